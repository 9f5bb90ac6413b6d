"""Extra links on generation tasks: open the generated video (or the batch's manifest).

In Airflow 3 the worker calls ``get_link`` whenever a try of the task ends and stores the
answer in XCom (key ``_link_<ClassName>``), where the UI reads it. The link is derived
from the task's own ``video_urls`` XCom (the batch's ``manifest_uri``), so it works after
a deferral, for every mapped task instance, and for the operator and the sensor alike.

A try also ends when the task defers, before that XCom exists, and reading an XCom that
does not exist makes the supervisor log an ``error``-level "XCom not found" line: a green
run would show errors. So a link reads its XCom only when it can exist: never while the
task is waiting (deferred, up for reschedule, awaiting input), and only after counting
it, which logs nothing when the count is zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from airflow_provider_i2v.generation.keys import XCOM_MANIFEST_URI, XCOM_VIDEO_URLS

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


#: A try that ends in one of these states has not pushed its results yet: the task goes
#: on later (after the trigger fires, the reschedule or the input), and the link is asked
#: again when that try ends.
_WAITING_STATES = frozenset({"deferred", "up_for_reschedule", "awaiting_input"})


def _pushed_xcom(ti_key: TaskInstanceKey, key: str) -> Any:
    """The task instance's XCom ``key``, or ``None`` without asking for one that is not there.

    ``ti_key`` is the running task instance when the worker asks (it has a ``state``), a
    plain key otherwise. The count covers every map index of the task; for an unmapped
    task it is exact, and a mapped task's own value exists once it succeeded.
    """
    from airflow.sdk.bases.xcom import BaseXCom

    state = getattr(ti_key, "state", None)
    if getattr(state, "value", state) in _WAITING_STATES:  # the task SDK's state is an enum
        return None
    if _xcom_count(ti_key, key) == 0:
        return None
    return BaseXCom.get_value(ti_key=ti_key, key=key)  # type: ignore[arg-type]


def _xcom_count(ti_key: TaskInstanceKey, key: str) -> int:
    """How many XComs ``key`` the task has (all map indexes): a ``HEAD`` that logs nothing.

    The same request the task SDK sends for ``len()`` of a mapped task's XComs.
    """
    from airflow.sdk.execution_time.comms import GetXComCount, XComCountResponse
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    answer = SUPERVISOR_COMMS.send(
        GetXComCount(key=key, dag_id=ti_key.dag_id, run_id=ti_key.run_id, task_id=ti_key.task_id)
    )
    if not isinstance(answer, XComCountResponse):
        raise TypeError(f"unexpected answer to GetXComCount: {answer!r}")
    return int(answer.len)


class I2VVideoLink(BaseOperatorLink):
    """The first generated video (a temporary signed URL on the real gateway)."""

    name = "Generated video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        urls = _pushed_xcom(ti_key, XCOM_VIDEO_URLS)
        return str(urls[0]) if isinstance(urls, list) and urls else ""


class I2VBatchManifestLink(BaseOperatorLink):
    """The batch's manifest (``manifest.jsonl`` in ``output_dir``), when one was written."""

    name = "Batch manifest"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        uri = _pushed_xcom(ti_key, XCOM_MANIFEST_URI)
        return str(uri) if isinstance(uri, str) else ""
