"""Benchmarks of the provider: ``python -m benchmarks`` (``make bench``) prints one table.

See benchmarks/README.md for what each row measures and one full run's output.
"""
