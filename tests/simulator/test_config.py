"""Config and fault parsing: what the CLI and ``POST /_sim/config`` accept."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping

import pytest

from airflow_provider_i2v.simulator import FAULT_KINDS, Endpoint, Fault, FaultKind, SimConfig
from airflow_provider_i2v.simulator.config import SETTINGS
from airflow_provider_i2v.simulator.knobs import Declared


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("429=0.1", Fault(kind="http_429", rate=0.1)),
        ("http_502=1@poll", Fault(kind="http_502", scope="poll")),
        ("reset=0.05@create", Fault(kind="reset", rate=0.05, scope="create")),
        ("503=first:2@poll", Fault(kind="http_503", scope="poll", first_n=2)),
        ("slow", Fault(kind="slow")),
        ("LOST_CREATE_ANSWER=0.5", Fault(kind="lost_create_answer", rate=0.5)),
    ],
)
def test_fault_flags(text: str, expected: Fault) -> None:
    assert Fault.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("boom=0.1", "unknown fault kind"),
        ("429=often", "not a number"),
        ("429=2", "rate"),
        ("429=0.1@nowhere", "scope"),
        ("200=1", "400..599"),
        ("503=first:x", "whole number"),
    ],
)
def test_bad_fault_flags(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Fault.parse(text)


def test_fault_applicability() -> None:
    assert Fault(kind="lost_create_answer").applies_to("create")
    assert not Fault(kind="lost_create_answer").applies_to("poll")
    assert not Fault(kind="malformed_json").applies_to("files")
    assert Fault(kind="http_500", scope="files").applies_to("files")
    assert not Fault(kind="http_500", scope="files").applies_to("poll")


def test_updated_validates_and_round_trips() -> None:
    config = SimConfig(seed=3, api_keys=("a",), faults=(Fault(kind="429", rate=0.5),))
    assert SimConfig().updated(config.to_dict()) == config
    assert config.updated({"api_keys": "solo"}).api_keys == ("solo",)
    with pytest.raises(ValueError, match="unknown config keys"):
        config.updated({"generation_secs": 1})
    with pytest.raises(ValueError, match="fail_rate"):
        config.updated({"fail_rate": 1.5})
    with pytest.raises(ValueError, match="public_url"):
        config.updated({"public_url": "ftp://x"})


def test_fail_code_rules() -> None:
    assert SimConfig().effective_fail_rate == 0.0
    assert SimConfig(fail_code="010006095").effective_fail_rate == 1.0
    assert SimConfig(fail_code="010006095", fail_rate=0.25).effective_fail_rate == 0.25
    assert SimConfig(fail_code=10006097).fail_code == "010006097"  # type: ignore[arg-type]


def test_survivable_faults_hit_about_the_requested_share() -> None:
    import random

    from airflow_provider_i2v.simulator import SURVIVABLE_FAULTS, survivable_faults

    faults = survivable_faults(0.3)
    assert [(f.kind, f.scope) for f in faults] == list(SURVIVABLE_FAULTS)
    rng = random.Random(1)
    trials = 20_000
    hit = sum(any(rng.random() < f.rate for f in faults) for _ in range(trials))  # first that fires wins
    assert abs(hit / trials - 0.3) < 0.02


# ----------------------------------------------------------------------------- fault kinds


def test_fault_kinds_are_one_enum_with_http_statuses_made_on_first_use() -> None:
    assert FaultKind("503") is FaultKind("http_503") is FaultKind.http(503) is FaultKind("HTTP_503")
    assert FaultKind.http(503).http_status == 503
    assert FaultKind.RESET.http_status is None
    assert FaultKind("Reset") is FaultKind.RESET
    assert FaultKind.http(418) == "http_418"  # a StrEnum: compares, hashes and dumps as its string
    assert json.dumps({"kind": FaultKind.http(418)}) == '{"kind": "http_418"}'
    assert {FaultKind.SLOW: 1}["slow"] == 1
    assert "http_503" not in FAULT_KINDS  # the named kinds only
    assert set(FAULT_KINDS) == {kind.value for kind in FaultKind}
    with pytest.raises(ValueError, match=r"400\.\.599"):
        FaultKind.http(302)
    assert Fault("503").kind is FaultKind.http(503)
    assert Fault("503").applies_to(Endpoint.FILES)


# ----------------------------------------------------------------------------- declared settings

#: A value of the wrong JSON type for each type a setting can have.
_WRONG_TYPE = {bool: "yes", int: 1.5, float: "fast", str: ["a", "list"]}


def _wrong_value(item: Declared) -> object:
    options = [o for o in typing.get_args(item.hint) or (item.hint,) if o is not type(None)]
    origin = typing.get_origin(options[0]) or options[0]
    if origin is tuple:
        return 42
    if origin is Mapping:
        return ["not", "an", "object"]
    if len(options) > 1:  # str | int | float (cost)
        return True
    return _WRONG_TYPE[origin]


@pytest.mark.parametrize("item", SETTINGS, ids=[item.name for item in SETTINGS])
def test_every_setting_refuses_a_value_of_the_wrong_type(item: Declared) -> None:
    with pytest.raises(ValueError, match=item.name):
        SimConfig().updated({item.name: _wrong_value(item)})


@pytest.mark.parametrize("item", [item for item in SETTINGS if item.spec.choices], ids=lambda item: item.name)
def test_every_choice_setting_refuses_other_words(item: Declared) -> None:
    with pytest.raises(ValueError, match=f"{item.name} must be one of"):
        SimConfig().updated({item.name: "no-such-choice"})


@pytest.mark.parametrize(
    "item", [item for item in SETTINGS if item.spec.minimum is not None], ids=lambda item: item.name
)
def test_every_bounded_setting_refuses_values_out_of_bounds(item: Declared) -> None:
    low = item.spec.minimum
    assert low is not None
    with pytest.raises(ValueError, match=item.name):
        SimConfig().updated({item.name: low - 1 if not item.spec.exclusive else low})
    if item.spec.maximum is not None:
        with pytest.raises(ValueError, match=item.name):
            SimConfig().updated({item.name: item.spec.maximum + 1})


def test_every_setting_is_declared_with_help_and_round_trips_as_json() -> None:
    assert [item.name for item in SETTINGS] == [f.name for f in dataclasses.fields(SimConfig)]
    for item in SETTINGS:
        assert item.spec.help, item.name
    default = SimConfig()
    assert SimConfig().updated(json.loads(json.dumps(default.to_dict()))) == default


def test_checks_no_type_can_say() -> None:
    with pytest.raises(ValueError, match="video_width must be even"):
        SimConfig(video_width=641)
    with pytest.raises(ValueError, match="api_keys"):
        SimConfig(api_keys=("",))
    assert SimConfig(api_keys=["a", "b"]).api_keys == ("a", "b")  # type: ignore[arg-type]
    assert SimConfig(create_error_code=10006096).create_error_code == "010006096"  # type: ignore[arg-type]


def test_every_setting_and_fault_kind_is_documented() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    config_table = page.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    faults_table = page.split("## Faults", 1)[1].split("\n## ", 1)[0]
    for item in SETTINGS:
        assert f"`{item.name}`" in config_table, item.name
    for kind in FAULT_KINDS:
        assert f"| `{kind}` |" in faults_table, kind
