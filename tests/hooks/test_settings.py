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


@pytest.mark.parametrize(
    "extra",
    [
        {"max_retries": "nan"},
        {"max_retries": "inf"},
        {"max_retries": 2.5},
        {"max_retries": 1000},
        {"timeout": "nan"},
        {"timeout": float("nan")},
        {"timeout": "-inf"},
        {"timeout": "1e400"},
        {"timeout": True},
        {"backoff_initial": "nan"},
        {"backoff_max": "inf"},
        {"backoff_max": -1},
        {"allow_private_outputs": "maybe"},
        {"proxy": "proxy.internal:3128"},
        {"proxy": "ftp://proxy.internal"},
        {"proxy": "http://[::1"},
    ],
    ids=repr,
)
def test_every_extra_is_checked_and_a_bad_one_is_named(extra: dict[str, object]) -> None:
    """``float("nan")`` passes every comparison and ``int(float("inf"))`` raises OverflowError:
    both must be the connection error that names the extra, never a crash or a silent NaN."""
    with pytest.raises(InvalidConnectionError, match=repr(next(iter(extra)))):
        ConnectionSettings.from_connection(None, "k", extra)


def test_a_proxys_credentials_are_not_repeated_in_the_error() -> None:
    with pytest.raises(InvalidConnectionError) as caught:
        ConnectionSettings.from_connection(None, "k", {"proxy": "proxy:secret@host"})
    assert "secret" not in str(caught.value)


def test_private_outputs_are_refused_unless_the_connection_allows_them() -> None:
    assert ConnectionSettings.from_connection(None, "k", {}).allow_private_outputs is False
    for raw in (True, "true", "1", "on"):
        s = ConnectionSettings.from_connection(None, "k", {"allow_private_outputs": raw})
        assert s.allow_private_outputs is True
    refused = ConnectionSettings.from_connection(None, "k", {"allow_private_outputs": "false"})
    assert refused.allow_private_outputs is False


@pytest.mark.parametrize("host", ["htps://cloud.vtrix.ai", "ftp://127.0.0.1:21", "ws://gw.example"])
def test_a_gateway_url_that_is_not_http_is_refused_when_resolved(host: str) -> None:
    """Refused before any create is prepared, so no intent is ever recorded for it."""
    with pytest.raises(InvalidConnectionError, match="must start with https:// or http://"):
        ConnectionSettings.from_connection(host, "k", {})
