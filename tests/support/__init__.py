"""Test support shared by the test suites, the demo and the benchmarks (not shipped)."""
