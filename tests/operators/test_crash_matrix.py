"""The crash-point matrix, in process: interrupt a try at every step of the paid sequence with
every kind of interruption, run the next try, and count what the user paid for, for the single
operator and for a batch item alike (both go through the same rules: the rows must be equal).

Each row of :data:`EXPECTED` is also a row of the table in docs/retries.md (a test below
holds the two together). The SIGKILL rows and the real ``execution_timeout`` rows run on real
Airflow components in ``tests/e2e/test_crash_matrix.py``.

A step is interrupted by raising the interruption from inside the call that performs it
(after the call did its work, or before it does), exactly where Airflow's SIGALRM/SIGTERM
handlers would raise it; "create on the wire" sends a real signal once the simulator has
created the generation and holds the create's answer back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowTaskTerminated, AirflowTaskTimeout, TaskDeferred

from airflow_provider_i2v import images, outputs
from airflow_provider_i2v.exceptions import I2VCreationUncertainError
from airflow_provider_i2v.generation import request as request_module
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.operators.base import GenerationOperator
from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from airflow_provider_i2v.simulator import Fault
from tests.conftest import DictStateStore, RecordingTI, make_context
from tests.sim_helpers import creations, interrupt_once_created, record_success, run_trigger

REPO = Path(__file__).resolve().parents[2]
IMAGE = "https://images.example.com/cat.jpg"

#: The interruptions: what Airflow raises on execution_timeout and SIGTERM, a Ctrl-C, a bug.
KINDS: dict[str, Callable[[], BaseException]] = {
    "exception": lambda: RuntimeError("injected failure"),
    "SIGTERM": lambda: AirflowTaskTerminated("injected SIGTERM"),
    "KeyboardInterrupt": lambda: KeyboardInterrupt(),
    "timeout": lambda: AirflowTaskTimeout("injected execution_timeout"),
}
SHAPES = ("single", "batch item")

#: Said on the next try after a create whose outcome is unknown.
WARNING = "has an unknown outcome: a generation may exist and may have been paid for"


def _written(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return json.dumps(kwargs.get("value", args[2] if len(args) > 2 else None))


@dataclass(frozen=True)
class Step:
    name: str
    #: (object, attribute) of the call that performs the step, per shape; None: the wire.
    target: Callable[[str], tuple[Any, str]] | None
    when: str = "after"  # raise after the call did its work, or "before" it
    matches: Callable[..., bool] = lambda *args, **kwargs: True


def _operator(shape: str) -> type[GenerationOperator]:
    return ImageToVideoOperator if shape == "single" else ImageToVideoBatchOperator


STEPS = [
    Step(
        "parameters checked",
        lambda s: (request_module, "check_params"),
        matches=lambda *a, **k: k["rendered"],
    ),
    Step("image read", lambda s: (images, "prepare_first_frame_image")),
    Step(
        "intent stored",
        lambda s: (DictStateStore, "set"),
        matches=lambda *a, **k: "pending_since" in _written(a, k),
    ),
    Step("create on the wire", None),
    Step("answer received", lambda s: (I2VHook, "acreate_generation")),
    Step(
        "id being stored",
        lambda s: (DictStateStore, "set"),
        when="before",
        matches=lambda *a, **k: '"status": "submitted"' in _written(a, k),
    ),
    Step(
        "id stored",
        lambda s: (DictStateStore, "set"),
        matches=lambda *a, **k: '"status": "submitted"' in _written(a, k),
    ),
    Step(
        "id pushed to XCom",
        lambda s: (RecordingTI, "xcom_push"),
        matches=lambda *a, **k: k.get("key") in ("generation_id", "generation_ids"),
    ),
    Step("deferred", lambda s: (GenerationOperator, "defer"), when="before"),
    Step("event received", lambda s: (_operator(s), "execute_complete"), when="before"),
    Step("outputs copied", lambda s: (outputs, "copy_outputs")),
    Step(
        "result recorded",
        lambda s: (DictStateStore, "set"),
        when="before",
        matches=lambda *a, **k: '"status": "completed"' in _written(a, k),
    ),
]

_ONE = (1, False)
_TWO_WARNED = (2, True)
#: (step, interruption) -> (creations over the interrupted try and the next one, warned?).
EXPECTED: dict[tuple[str, str], tuple[int, bool]] = {
    (step.name, kind): _TWO_WARNED if step.name in ("create on the wire", "answer received") else _ONE
    for step in STEPS
    for kind in KINDS
}


@contextlib.contextmanager
def injected(step: Step, shape: str, make: Callable[[], BaseException], simulator: Any) -> Iterator[None]:
    """Interrupt ``step`` once while the block runs."""
    if step.target is None:  # on the wire: the gateway created it and holds the answer
        simulator.configure(slow_seconds=2.0, faults=[Fault("slow", scope="create", first_n=1)])

        with interrupt_once_created(simulator, make):
            yield
        return
    owner, name = step.target(shape)
    original = getattr(owner, name)
    fired: list[bool] = []

    def should_fire(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if fired or not step.matches(*args, **kwargs):
            return False
        fired.append(True)
        return True

    if inspect.iscoroutinefunction(original):

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not should_fire(args, kwargs):
                return await original(*args, **kwargs)
            if step.when == "before":
                raise make()
            await original(*args, **kwargs)
            raise make()

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            if not should_fire(args, kwargs):
                return original(*args, **kwargs)
            if step.when == "before":
                raise make()
            original(*args, **kwargs)
            raise make()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, name, wrapper)
        yield
    assert fired, f"step {step.name!r} was never reached"


def one_try(shape: str, store: DictStateStore, output_dir: Path, deferrable: bool) -> dict[str, Any]:
    """One try of the task instance as Airflow runs it, to the (reported) success."""
    common = {
        "poll_interval": 0.02,
        "output_dir": str(output_dir),
        "deferrable": deferrable,
        "check_image_url": False,  # example.com is never fetched
    }
    op: GenerationOperator
    if shape == "single":
        op = ImageToVideoOperator(task_id="generate", first_frame_image=IMAGE, **common)
    else:
        op = ImageToVideoBatchOperator(task_id="videos", images=[IMAGE], **common)
    context = make_context(store)
    try:
        result = op.execute(context)  # returns at once when it reuses an earlier try's result
    except TaskDeferred as deferred:
        [event] = run_trigger(deferred.trigger)
        result = op.execute_complete(context, event)
    record_success(op, context)
    return dict(result)


def generation_of(shape: str, result: dict[str, Any]) -> tuple[str, int]:
    """The generation id and the uncertain creates a try's result names."""
    if shape == "single":
        return result["generation_id"], result["uncertain_creates"]
    [item] = result["results"]
    assert item["status"] == "completed"
    return item["generation_id"], result["uncertain_creates"]


#: Steps of the deferrable path only.
_DEFERRAL = ("deferred", "event received")
CASES = [(step, True) for step in STEPS] + [(step, False) for step in STEPS if step.name not in _DEFERRAL]


@pytest.mark.parametrize("shape", SHAPES)
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
    shape: str,
) -> None:
    simulator.configure(generation_seconds=0.0)  # the steps, not the render, are under test
    store = DictStateStore()
    result: dict[str, Any] | None = None
    with injected(step, shape, KINDS[kind], simulator):
        try:
            result = one_try(shape, store, tmp_path, deferrable)  # an interruption the try absorbs
        except BaseException as exc:  # the interrupted try ends here, as Airflow's would
            if isinstance(exc, AssertionError | pytest.fail.Exception):
                raise
    simulator.configure(faults=[])
    capfd.readouterr()
    if result is None:
        result = one_try(shape, store, tmp_path, deferrable)  # the next try (a retry, or a clear)
    log = "".join(capfd.readouterr())
    paid, warned = EXPECTED[(step.name, kind)]
    generation_id, uncertain = generation_of(shape, result)
    assert creations(simulator) == paid
    assert (WARNING in log) is warned
    assert uncertain == (1 if warned else 0)
    assert simulator.stats()["file_downloads"] == 1  # each delivered video is downloaded once
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".mp4"] == [f"{generation_id}.mp4"]
    again = one_try(shape, store, tmp_path, deferrable)  # a clear of the succeeded run
    assert generation_of(shape, again)[0] == generation_id
    assert creations(simulator) == paid  # the clear paid nothing


def test_an_interruption_inside_one_batch_create_stops_every_other_create(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    """A timeout that lands in a coroutine step is stored in that asyncio task; the batch must
    still stop sending creates at once, not go on paying after the task was told to stop."""
    fired: list[bool] = []
    original = I2VHook.acreate_generation

    async def answer_then_timeout(self: I2VHook, request: Any) -> Any:
        state = await original(self, request)
        if not fired:
            fired.append(True)
            raise AirflowTaskTimeout("injected execution_timeout")
        return state

    store = DictStateStore()
    images_ = [f"https://images.example.com/p/{i}.jpg" for i in range(6)]
    op = ImageToVideoBatchOperator(
        task_id="videos", images=images_, max_in_flight=1, check_image_url=False, deferrable=False
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(I2VHook, "acreate_generation", answer_then_timeout)
        with pytest.raises(AirflowTaskTimeout):
            op.execute(make_context(store))
    assert creations(simulator) == 1  # nothing was sent after the timeout struck


@pytest.mark.parametrize("shape", SHAPES)
def test_an_interruption_asyncio_swallows_in_a_socket_write_still_stops_the_try(
    simulator: Any, i2v_conn: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], shape: str
) -> None:
    """A timeout or SIGTERM raised while asyncio writes to a socket is not propagated: asyncio
    closes the connection and only reports the exception to the loop's exception handler.
    The try must stop all the same, not send the create again as if nothing had happened."""
    original = I2VHook.acreate_generation
    fired: list[bool] = []

    async def created_then_swallowed(self: I2VHook, request: Any) -> Any:
        state = await original(self, request)  # the gateway created it ...
        if fired:
            return state
        fired.append(True)
        # ... and the signal struck in asyncio's write: reported, then the connection is gone.
        asyncio.get_running_loop().call_exception_handler(
            {"message": "Fatal write error on socket transport", "exception": KINDS["SIGTERM"]()}
        )
        raise I2VCreationUncertainError("the connection closed before the answer arrived")

    store = DictStateStore()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(I2VHook, "acreate_generation", created_then_swallowed)
        with pytest.raises(AirflowTaskTerminated):
            one_try(shape, store, tmp_path, deferrable=False)
    assert creations(simulator) == 1  # not sent again by a try that was told to stop
    capfd.readouterr()
    result = one_try(shape, store, tmp_path, deferrable=False)  # the next try
    assert WARNING in "".join(capfd.readouterr())
    assert result["uncertain_creates"] == 1
    assert creations(simulator) == 2


def test_docs_hold_the_same_matrix() -> None:
    """docs/retries.md's table states what this matrix asserts, row for row, for both shapes."""
    text = (REPO / "docs" / "retries.md").read_text(encoding="utf-8")
    table = text.split("<!-- crash-matrix -->")[1].split("<!-- /crash-matrix -->")[0]
    documented: dict[str, set[int]] = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] in {s.name for s in STEPS}:
            documented.setdefault(cells[0], set()).add(int(cells[2]))
    for step in STEPS:
        assert step.name in documented, f"docs/retries.md has no crash-matrix row for {step.name!r}"
        assert documented[step.name] == {EXPECTED[(step.name, kind)][0] for kind in KINDS}


def test_a_create_waiting_to_be_sent_again_is_not_sent_once_another_was_interrupted(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Item A's create got a 503 (unknown outcome) and waits to be sent again; meanwhile a
    timeout strikes in item B's create. A must not be sent again after the task was told to stop."""
    from tests.conftest import connection_uri, simulator_base_url

    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(simulator_base_url(), backoff_initial=1.0))
    simulator.configure(faults=[Fault("http_503", scope="create", first_n=1)])
    original = I2VHook.acreate_generation

    async def accepted_then_timeout(self: I2VHook, request: Any) -> Any:
        await original(self, request)  # created and answered; the timeout strikes right after
        raise AirflowTaskTimeout("injected execution_timeout")

    images_ = ["https://images.example.com/a.jpg", "https://images.example.com/b.jpg"]
    op = ImageToVideoBatchOperator(
        task_id="videos", images=images_, max_in_flight=2, check_image_url=False, deferrable=False
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(I2VHook, "acreate_generation", accepted_then_timeout)
        with pytest.raises(AirflowTaskTimeout):
            op.execute(make_context(DictStateStore()))
    creates = [r for r in simulator.requests if r.endpoint == "create"]
    assert [r.status for r in creates] == [503, 200] or [r.status for r in creates] == [200, 503]
