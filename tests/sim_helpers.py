"""Small helpers over the simulator's request record and the trigger, shared by unit tests."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dev.task_runtime import run_trigger

__all__ = [
    "creations",
    "interrupt_once_created",
    "record_success",
    "requests_received",
    "run_trigger",
    "succeed",
]


def creations(sim: Any) -> int:
    """Generations the simulator accepted (the number the user pays for)."""
    return int(sim.creations)


@contextlib.contextmanager
def interrupt_once_created(
    sim: Any, make: Callable[[], BaseException], count: int = 1, settle: float = 0.1
) -> Iterator[None]:
    """Raise ``make()`` in the main thread, from a SIGALRM handler as Airflow's timeout and
    SIGTERM handlers raise theirs, once the simulator has created ``count`` generations and
    ``settle`` more seconds have passed. With a ``slow`` create fault the answers are still
    held then: the creates are on the wire, their clients waiting for the answers. Waiting
    for the creation, not a fixed time, keeps the test fast and never early on a busy machine.

    ``settle`` lets the client finish sending, so that the step is what its name says (the
    client waiting for the answer). An exception raised inside asyncio's socket write takes
    another road: asyncio closes the connection and only reports it to the loop's exception
    handler (``submit`` stops there too; tests/operators/test_crash_matrix.py tests that
    road on its own)."""

    def handler(signum: int, frame: Any) -> None:
        raise make()

    def alarm_once_created(done: threading.Event) -> None:
        deadline = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < deadline:
            if creations(sim) >= count:
                if not done.wait(settle):
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
                return
            done.wait(0.005)

    previous = signal.signal(signal.SIGALRM, handler)
    done = threading.Event()
    watcher = threading.Thread(target=alarm_once_created, args=(done,), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGALRM, previous)


def requests_received(sim: Any) -> int:
    return len(sim.requests)


def record_success(task: Any, context: dict[str, Any]) -> None:
    """What Airflow's task runner does once it has recorded a try's success: run the task's
    success callbacks, in order, with the try's context."""
    for callback in task.on_success_callback:
        callback(context)


def succeed(task: Any, context: dict[str, Any], result: Any) -> Any:
    """``result`` returned by ``execute``/``execute_complete``, then the success recorded."""
    record_success(task, context)
    return result
