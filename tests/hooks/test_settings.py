"""Connection fields and extras -> ConnectionSettings."""

from __future__ import annotations

import pytest

from airflow_provider_i2v.hooks.settings import ConnectionSettings, InvalidConnectionError


def test_defaults_point_at_the_real_gateway() -> None:
    s = ConnectionSettings.from_connection(None, "key", {})
    assert s.base_url == "https://cloud.vtrix.ai"
    assert (s.timeout, s.max_retries, s.verify, s.proxy) == (30.0, 5, True, None)


def test_extras_plain_and_prefixed_names() -> None:
    s = ConnectionSettings.from_connection(
        "http://127.0.0.1:8765/",
        "key",
        {"timeout": "12.5", "extra__i2v__max_retries": 2, "verify_ssl": "false", "proxy": "http://p:3128"},
    )
    assert s.base_url == "http://127.0.0.1:8765"
    assert (s.timeout, s.max_retries, s.verify, s.proxy) == (12.5, 2, False, "http://p:3128")


def test_host_without_scheme_uses_schema_or_https() -> None:
    assert ConnectionSettings.from_connection("cloud.vtrix.ai", "k", {}).base_url == "https://cloud.vtrix.ai"
    assert ConnectionSettings.from_connection("127.0.0.1:1", "k", {}, "http").base_url == "http://127.0.0.1:1"


@pytest.mark.parametrize("extra", [{"timeout": "soon"}, {"timeout": 0}, {"max_retries": -1}])
def test_bad_extras_are_named(extra: dict[str, object]) -> None:
    with pytest.raises(InvalidConnectionError, match=next(iter(extra))):
        ConnectionSettings.from_connection(None, "k", extra)


def test_key_never_in_repr_and_not_in_account_key() -> None:
    s = ConnectionSettings.from_connection(None, "sk-very-secret", {})
    assert "sk-very-secret" not in repr(s)
    assert "sk-very-secret" not in repr(s.account_key)
    assert s.account_key != ConnectionSettings.from_connection(None, "other", {}).account_key


def test_port_of_a_connection_uri_is_kept() -> None:
    assert (
        ConnectionSettings.from_connection("127.0.0.1", "k", {}, "http", 8765).base_url
        == "http://127.0.0.1:8765"
    )
    # A port already in the host wins.
    assert ConnectionSettings.from_connection("http://h:1", "k", {}, None, 2).base_url == "http://h:1"
