"""Fixtures for every operator test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def quick_store_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's retries as they are, without their pauses (the count is what is tested)."""
    from airflow_provider_i2v.generation import record

    monkeypatch.setattr(record, "STORE_BACKOFF", 0.0)
