"""The crash-point matrix, in process: interrupt a try at every step of the paid sequence with
every kind of interruption, run the next try, and count what the user paid for.

Each row of :data:`EXPECTED` is also a row of the table in docs/retries.md (a test below
holds the two together). The SIGKILL rows and the real ``execution_timeout`` rows run on real
Airflow components in ``tests/e2e/test_crash_matrix.py``.

A step is interrupted by raising the interruption from inside the call that performs it
(after the call has done its work, or just before it for calls that end the try), exactly
where Airflow's SIGALRM/SIGTERM handlers would raise it; "create on the wire" uses a real
signal while the simulator holds the create's answer back.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowTaskTerminated, AirflowTaskTimeout, TaskDeferred

from airflow_provider_i2v import images, outputs
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.operators import i2v as operator_module
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from airflow_provider_i2v.resume import GenerationLedger
from airflow_provider_i2v.simulator import Fault
from tests.conftest import DictStateStore, RecordingTI, make_context
from tests.sim_helpers import creations, record_success, run_trigger

REPO = Path(__file__).resolve().parents[2]

#: The interruptions: what Airflow raises on execution_timeout and SIGTERM, a Ctrl-C, a bug.
KINDS: dict[str, Callable[[], BaseException]] = {
    "exception": lambda: RuntimeError("injected failure"),
    "SIGTERM": lambda: AirflowTaskTerminated("injected SIGTERM"),
    "KeyboardInterrupt": lambda: KeyboardInterrupt(),
    "timeout": lambda: AirflowTaskTimeout("injected execution_timeout"),
}

#: Said on the next try after a create whose outcome is unknown.
WARNING = "whose outcome is unknown: a generation may exist and may have been paid for"


@dataclass(frozen=True)
class Outcome:
    creations: int
    warned: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    #: (object, attribute) of the call that performs the step; None: special (the wire).
    target: tuple[Any, str] | None
    when: str = "after"  # raise after the call did its work, or "before" it
    matches: Callable[..., bool] = lambda *args, **kwargs: True


def _value(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("value", args[2] if len(args) > 2 else None)


STEPS = [
    Step("parameters checked", (operator_module, "check_params"), matches=lambda *a, **k: k.get("rendered")),
    Step("image read", (images, "prepare_first_frame_image")),
    Step("intent stored", (DictStateStore, "set"), matches=lambda *a, **k: "pending_since" in _value(a, k)),
    Step("create on the wire", None),
    Step("answer received", (I2VHook, "create_generation")),
    Step(
        "id stored",
        (DictStateStore, "set"),
        matches=lambda *a, **k: "generation_id" in _value(a, k) and "files" not in _value(a, k),
    ),
    Step("XCom pushed", (RecordingTI, "xcom_push"), matches=lambda *a, **k: k.get("key") == "generation_id"),
    Step("deferred", (ImageToVideoOperator, "defer"), when="before"),
    Step("event received", (ImageToVideoOperator, "execute_complete"), when="before"),
    Step("outputs copied", (outputs, "copy_outputs")),
    Step("success recorded", (GenerationLedger, "forget"), when="before"),
]

_ONE = Outcome(1)
_TWO_WARNED = Outcome(2, warned=True)
#: (step, interruption) -> what the user pays for over the interrupted try and the next one.
EXPECTED: dict[tuple[str, str], Outcome] = {
    (step.name, kind): _TWO_WARNED if step.name in ("create on the wire", "answer received") else _ONE
    for step in STEPS
    for kind in KINDS
}


@contextlib.contextmanager
def injected(step: Step, make: Callable[[], BaseException], simulator: Any) -> Iterator[None]:
    """Interrupt ``step`` once while the block runs."""
    if step.target is None:  # on the wire: the gateway created it and holds the answer
        simulator.configure(slow_seconds=2.0, faults=[Fault("slow", scope="create", first_n=1)])

        def handler(signum: int, frame: Any) -> None:
            raise make()

        previous = signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    owner, name = step.target
    original = getattr(owner, name)
    fired: list[bool] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if fired or not step.matches(*args, **kwargs):
            return original(*args, **kwargs)
        fired.append(True)
        if step.when == "before":
            raise make()
        original(*args, **kwargs)
        raise make()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            owner, name, wrapper if not isinstance(original, staticmethod) else staticmethod(wrapper)
        )
        yield
    assert fired, f"step {step.name!r} was never reached"


def one_try(store: DictStateStore, output_dir: Path, deferrable: bool) -> dict[str, Any]:
    """One try of the task instance as Airflow runs it, to the recorded success."""
    op = ImageToVideoOperator(
        task_id="generate",
        first_frame_image="https://images.example.com/cat.jpg",
        poll_interval=0.02,
        output_dir=str(output_dir),
        deferrable=deferrable,
    )
    context = make_context(store)
    try:
        result = op.execute(context)  # returns at once when it reuses an earlier try's result
    except TaskDeferred as deferred:
        [event] = run_trigger(deferred.trigger)
        result = op.execute_complete(context, event)
    record_success(op, context)
    return result


#: Steps of the deferrable path only.
_DEFERRAL = ("deferred", "event received")
CASES = [(step, True) for step in STEPS] + [(step, False) for step in STEPS if step.name not in _DEFERRAL]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("step", "deferrable"),
    CASES,
    ids=[f"{s.name}-{'deferrable' if d else 'blocking'}" for s, d in CASES],
)
def test_crash_point(
    simulator: Any,
    i2v_conn: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    step: Step,
    deferrable: bool,
    kind: str,
) -> None:
    simulator.configure(generation_seconds=0.05)
    store = DictStateStore()
    result: dict[str, Any] | None = None
    with injected(step, KINDS[kind], simulator):
        try:
            result = one_try(store, tmp_path, deferrable)  # an interruption the try absorbs (a retried write)
        except BaseException as exc:  # the interrupted try ends here, as Airflow's would
            if isinstance(exc, AssertionError):
                raise
    simulator.configure(faults=[])
    capfd.readouterr()
    if result is None:
        result = one_try(store, tmp_path, deferrable)  # the next try (Airflow's retry, or a user's clear)
    log = "".join(capfd.readouterr())
    expected = EXPECTED[(step.name, kind)]
    assert creations(simulator) == expected.creations
    assert (WARNING in log) is expected.warned
    assert result["uncertain_creates"] == (1 if expected.warned else 0)
    assert simulator.stats()["file_downloads"] == 1  # each delivered video is downloaded once
    assert [p.name for p in tmp_path.iterdir()] == [f"{result['generation_id']}.mp4"]


def test_docs_hold_the_same_matrix() -> None:
    """docs/retries.md's table states exactly what this matrix asserts, row for row."""
    text = (REPO / "docs" / "retries.md").read_text(encoding="utf-8")
    table = text.split("<!-- crash-matrix -->")[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in {s.name for s in STEPS}:
            rows[cells[0]] = cells
    for step in STEPS:
        assert step.name in rows, f"docs/retries.md has no crash-matrix row for {step.name!r}"
        documented = int(rows[step.name][2])
        assert {EXPECTED[(step.name, kind)].creations for kind in KINDS} == {documented}
