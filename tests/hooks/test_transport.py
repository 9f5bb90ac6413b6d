"""The transport's own decisions that need no gateway: what a mistyped URL scheme means."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_i2v.exceptions import I2VConnectionConfigError, I2VCreationUncertainError
from airflow_provider_i2v.hooks.interpret import Call
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import request_async, request_sync, reset_shared_state

CREATE = Call("POST", "/model/v1/generation", json={}, creates=True, label="create")


@pytest.fixture(autouse=True)
def _fresh() -> None:
    reset_shared_state()


@pytest.mark.parametrize("base_url", ["htps://127.0.0.1:9", "ftp://127.0.0.1:9"])
def test_a_mistyped_scheme_is_a_configuration_error_not_an_uncertain_create(base_url: str) -> None:
    """Nothing left the machine: saying "a generation may have been paid for" would be false."""
    settings = ConnectionSettings.from_connection(base_url, "k", {"backoff_initial": 0})
    with pytest.raises(I2VConnectionConfigError, match="Nothing was sent") as caught:
        request_sync(settings, CREATE)
    assert not isinstance(caught.value, I2VCreationUncertainError)
    with pytest.raises(I2VConnectionConfigError, match="Nothing was sent"):
        asyncio.run(request_async(settings, CREATE))
