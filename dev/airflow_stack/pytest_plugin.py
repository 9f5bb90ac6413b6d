"""The ``--airflow-mode`` option (loaded with ``-p`` from pyproject's pytest options).

A plugin rather than a conftest hook because pytest reads options only from plugins and
the conftest files it loads first, and ``pytest tests/e2e/test_x.py`` and plain
``pytest`` load different ones.
"""

from __future__ import annotations

import pytest

from .modes import DEFAULT_MODE, MODE_ENV, MODES, Mode, resolve_mode


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("airflow").addoption(
        "--airflow-mode",
        choices=sorted(MODES),
        default=None,
        help=f"deployment the end-to-end tests run on (default: ${MODE_ENV}, else {DEFAULT_MODE}): "
        + "; ".join(f"{m.name}: {m.summary}" for m in MODES.values()),
    )


def session_mode(config: pytest.Config) -> Mode:
    """The mode of this test session: the option, else ``$I2V_E2E_MODE``, else sqlite."""
    return resolve_mode(config.getoption("--airflow-mode"))


def pytest_report_header(config: pytest.Config) -> str:
    try:
        mode = session_mode(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    return f"airflow mode: {mode.name} ({mode.summary})"
