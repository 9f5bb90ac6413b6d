"""``python -m benchmarks --smoke`` still produces the whole table (every row), so the
benchmark cannot rot between full runs. Timings are not asserted: speed targets live in the
benchmark's own table, never in tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# A subprocess that runs every benchmark section in small (about 40 s): the end-to-end tier.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def test_the_smoke_run_prints_every_row_of_the_table(tmp_path: Path) -> None:
    from benchmarks.__main__ import PLANS, expected_keys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--work", str(tmp_path / "bench")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table = done.stdout[done.stdout.index("airflow-provider-i2v benchmarks (smoke run)") :]
    keys = [m[1] for line in table.splitlines() if (m := re.match(r"(\d\.(?:\d+\.)?[a-z][\w.]*)\s", line))]
    assert keys == expected_keys(PLANS["smoke"])
    for header in (
        "1. Polls that follow the render",
        "2. The trigger",
        "3. Scale",
        "4. The worker",
        "5. Batch or mapped",
    ):
        assert header in table
    assert "cores" in table  # the machine
    assert "httpcore" in table  # and the library versions
    assert (tmp_path / "bench" / "table.txt").read_text().strip() == table.strip()
    assert "NOT MET" in table or "met" in table  # the targets' status column is there
