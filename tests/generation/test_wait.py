"""The one wait loop: one schedule per generation, and one generation's trouble is its own."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VGenerationNotFoundError,
    I2VInvalidRequestError,
    I2VTransientError,
)
from airflow_provider_i2v.generation import wait as wait_module
from airflow_provider_i2v.generation.schedule import Polling
from airflow_provider_i2v.generation.wait import poll_until_terminal
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus, parse_generation

LOG = logging.getLogger(__name__)


def state(gid: str, status: GenerationStatus, progress: float | None = None, **raw: Any) -> GenerationState:
    if raw:
        return parse_generation({"id": gid, "status": status.value, **raw})
    return GenerationState(
        generation_id=gid, status=status, raw_status=status.value, status_known=True, progress=progress
    )


class ScriptedGateway:
    """An ``aget_generation`` that answers from a script per generation id."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.polls: dict[str, int] = dict.fromkeys(script, 0)

    async def aget_generation(self, gid: str) -> GenerationState:
        self.polls[gid] += 1
        answer = self.script[gid](self.polls[gid])
        await asyncio.sleep(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_each_generation_keeps_its_own_schedule() -> None:
    gateway = ScriptedGateway(
        {
            # "slow" reports a slow render's progress and never finishes
            "slow": lambda n: state("slow", GenerationStatus.RUNNING, 0.1),
            # "plain" reports no progress and completes on its 3rd poll
            "plain": lambda n: state(
                "plain", GenerationStatus.COMPLETED if n >= 3 else GenerationStatus.RUNNING
            ),
        }
    )
    started = time.time()
    result = asyncio.run(
        poll_until_terminal(
            gateway,  # type: ignore[arg-type]
            ["slow", "plain"],
            Polling(0.05, 30.0, True, "model-of-this-test"),
            started_at=started - 10,  # "slow" is 10 % done after 10 s: its finish is ~80 s away
            deadline=started + 0.5,
            log=LOG,
        )
    )
    # "plain" said nothing of its progress: it is polled every poll_interval and completes,
    # although "slow"'s progress put its own next poll far beyond the deadline.
    assert result.outcomes["plain"].completed
    assert gateway.polls["plain"] == 3
    assert result.pending == ["slow"]
    assert gateway.polls["slow"] <= 2  # once at the start, perhaps once at the deadline


def test_one_generations_error_is_its_own_failure_and_a_404_is_believed_the_second_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wait_module, "ASK_AGAIN_AFTER", 0.01)
    gateway = ScriptedGateway(
        {
            "refused": lambda n: I2VInvalidRequestError("the gateway refused the request (HTTP 400)"),
            "gone": lambda n: I2VGenerationNotFoundError("the gateway does not know it"),
            "blip": lambda n: (
                I2VGenerationNotFoundError("404") if n == 1 else state("blip", GenerationStatus.COMPLETED)
            ),
            "flaky": lambda n: (
                I2VTransientError("HTTP 503") if n == 1 else state("flaky", GenerationStatus.COMPLETED)
            ),
            "rich": lambda n: state("rich", GenerationStatus.COMPLETED, usage={"cost": "1e999999999"}),
            "fine": lambda n: state("fine", GenerationStatus.COMPLETED, usage={"cost": "0.2800"}),
        }
    )
    result = asyncio.run(
        poll_until_terminal(
            gateway,  # type: ignore[arg-type]
            list(gateway.script),
            Polling(0.01, 0.01, False),
            started_at=None,
            deadline=time.time() + 10,
            log=LOG,
        )
    )
    assert set(result.failures) == {"refused", "gone"}
    assert gateway.polls["gone"] == 2  # asked twice before it is called gone
    assert {gid for gid, o in result.outcomes.items() if o.completed} == {"blip", "flaky", "rich", "fine"}
    assert result.outcomes["rich"].cost is None  # unreadable, never an overflow in a sum
    assert result.outcomes["fine"].cost == Decimal("0.2800")
    assert result.pending == []


def test_a_refused_key_stops_the_whole_wait() -> None:
    gateway = ScriptedGateway(
        {
            "a": lambda n: I2VAuthenticationError("the API key was refused (HTTP 401)"),
            "b": lambda n: state("b", GenerationStatus.RUNNING),
        }
    )
    with pytest.raises(I2VAuthenticationError):
        asyncio.run(
            poll_until_terminal(
                gateway,  # type: ignore[arg-type]
                ["a", "b"],
                Polling(0.01, 0.01, False),
                started_at=None,
                deadline=time.time() + 5,
                log=LOG,
            )
        )


def test_past_the_deadline_a_404_is_still_asked_again_before_it_is_believed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sensor's poke is a wait whose deadline is now: an unknown id must still fail it."""
    monkeypatch.setattr(wait_module, "ASK_AGAIN_AFTER", 0.01)
    gateway = ScriptedGateway({"gone": lambda n: I2VGenerationNotFoundError("the gateway does not know it")})
    result = asyncio.run(
        poll_until_terminal(
            gateway,  # type: ignore[arg-type]
            ["gone"],
            Polling(0.01, 0.01, False),
            started_at=None,
            deadline=time.time(),
            log=LOG,
        )
    )
    assert gateway.polls["gone"] == 2
    assert isinstance(result.failures["gone"], I2VGenerationNotFoundError)


def test_a_lookup_refused_for_one_stored_generation_is_waited_for_never_paid_again() -> None:
    from airflow_provider_i2v.generation.record import Entry
    from airflow_provider_i2v.generation.rules import Asked, Next
    from airflow_provider_i2v.generation.submit import Slotted, plan

    class Slot:
        def read(self) -> Entry:
            return Entry(generation_id="g", request="d", gateway="http://gw")

        def write(self, entry: Entry, *, paid: str | None) -> None:
            raise AssertionError("nothing is written while deciding")

    gateway = ScriptedGateway(
        {"g": lambda n: I2VInvalidRequestError("the gateway refused the request (HTTP 410)")}
    )
    asked = Asked("d", "http://gw", "c", "m", "img")
    slotted = Slotted(0, "images[0]: ", Slot(), asked, lambda: None)  # type: ignore[arg-type,return-value]
    [decision] = asyncio.run(
        plan(gateway, [slotted], policy="resubmit", acknowledged=False, log=LOG)  # type: ignore[arg-type]
    ).values()
    assert decision.next is Next.RECONNECT
