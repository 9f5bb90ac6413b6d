"""Config and fault parsing: what the CLI and ``POST /_sim/config`` accept."""

from __future__ import annotations

import pytest

from airflow_provider_i2v.simulator import Fault, SimConfig


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
