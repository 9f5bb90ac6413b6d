"""The extra links read their XCom only when it can exist, so a green run logs no error.

Airflow's task runner asks every extra link for its URL whenever a try ends, deferrals
included; reading an XCom that is not there makes the supervisor log "XCom not found" at
error level. The unit tests stand in for the supervisor (the edge the task talks to); the
``dag.test()`` test runs real Airflow and reads what it logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.api.datamodels._generated import TaskInstanceState
from PIL import Image

from airflow_provider_i2v.links.i2v import I2VBatchManifestLink, I2VVideoLink

VIDEO = "http://127.0.0.1:1/files/g1.mp4"


class FakeSupervisor:
    """Answers the task's requests as the supervisor does and records them."""

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms
        self.sent: list[Any] = []

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import XComCountResponse, XComResult

        self.sent.append(msg)
        if msg.type == "GetXComCount":
            return XComCountResponse(len=1 if msg.key in self.xcoms else 0)
        if msg.type == "GetXCom":
            return XComResult(key=msg.key, value=self.xcoms.get(msg.key))
        raise AssertionError(f"unexpected request {msg!r}")


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Any:
    import airflow.sdk.execution_time.task_runner as task_runner

    def install(xcoms: dict[str, Any]) -> FakeSupervisor:
        fake = FakeSupervisor(xcoms)
        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
        return fake

    return install


def ti(state: str | None = None, map_index: int = -1) -> Any:
    return SimpleNamespace(
        dag_id="d", run_id="r", task_id="generate", map_index=map_index, try_number=1, state=state
    )


@pytest.mark.parametrize(
    "state",
    [
        TaskInstanceState.DEFERRED,  # what the task runner sets when a task defers
        TaskInstanceState.UP_FOR_RESCHEDULE,
        TaskInstanceState.AWAITING_INPUT,
        "deferred",
    ],
)
def test_a_waiting_task_asks_for_nothing(supervisor: Any, state: Any) -> None:
    fake = supervisor({"video_urls": [VIDEO], "manifest_uri": "file:///m.jsonl"})
    assert I2VVideoLink().get_link(None, ti_key=ti(state)) == ""  # type: ignore[arg-type]
    assert I2VBatchManifestLink().get_link(None, ti_key=ti(state)) == ""  # type: ignore[arg-type]
    assert fake.sent == []


@pytest.mark.parametrize("state", [TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, "success", None])
def test_an_xcom_that_is_not_there_is_counted_not_read(supervisor: Any, state: str | None) -> None:
    fake = supervisor({})
    assert I2VVideoLink().get_link(None, ti_key=ti(state)) == ""  # type: ignore[arg-type]
    assert I2VBatchManifestLink().get_link(None, ti_key=ti(state)) == ""  # type: ignore[arg-type]
    assert [m.type for m in fake.sent] == ["GetXComCount", "GetXComCount"]


@pytest.mark.parametrize("map_index", [-1, 2])
def test_a_finished_task_links_its_video_and_manifest(supervisor: Any, map_index: int) -> None:
    fake = supervisor({"video_urls": [VIDEO, "second"], "manifest_uri": "file:///out/manifest.jsonl"})
    assert I2VVideoLink().get_link(None, ti_key=ti("success", map_index)) == VIDEO  # type: ignore[arg-type]
    manifest = I2VBatchManifestLink().get_link(None, ti_key=ti("failed", map_index))  # type: ignore[arg-type]
    assert manifest == "file:///out/manifest.jsonl"  # a failed batch still links its manifest
    reads = [m for m in fake.sent if m.type == "GetXCom"]
    assert [(m.key, m.map_index) for m in reads] == [("video_urls", map_index), ("manifest_uri", map_index)]


LINKS_DAG = """
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator

IMAGE = "__IMAGE__"  # a local photo the test writes: nothing is fetched


@dag(dag_id="i2v_links_quiet", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def links_quiet(output_dir: str = "") -> None:
    ImageToVideoOperator(task_id="one", first_frame_image=IMAGE, prompt="turn", poll_interval=0.2)
    ImageToVideoOperator.partial(task_id="mapped", prompt="turn", poll_interval=0.2).expand(
        first_frame_image=[IMAGE, IMAGE, IMAGE]
    )
    ImageToVideoBatchOperator(task_id="batch", images=[IMAGE, IMAGE], prompt="turn", poll_interval=0.2)
    ImageToVideoBatchOperator(
        task_id="kept", images=[IMAGE], prompt="turn", poll_interval=0.2, output_dir="{{ params.output_dir }}"
    )


links_quiet()
"""

LINKS_TEST = """
from dags.i2v_links_quiet import links_quiet


def test_links(i2v_simulator, i2v_default_connection, tmp_path):
    run = links_quiet().test(run_conf={"output_dir": tmp_path.as_uri()})
    assert run.state == "success"
    ti = run.get_task_instance("one")
    LINKS = ("I2VVideoLink", "I2VBatchManifestLink")
    links = {  # the links as the worker stored them for the UI
        task: [ti.xcom_pull(task_ids=task, key=f"_link_{name}") for name in LINKS]
        for task in ("one", "batch", "kept")
    }
    [video] = ti.xcom_pull(task_ids="one", key="video_urls")
    assert links["one"][0] == video
    for index in range(3):  # each mapped instance links its own video
        [own] = ti.xcom_pull(task_ids="mapped", key="video_urls", map_indexes=index)
        assert ti.xcom_pull(task_ids="mapped", key="_link_I2VVideoLink", map_indexes=index) == own
    assert links["batch"][1] == ""  # no output_dir: no manifest
    assert links["kept"][1] == tmp_path.as_uri() + "/manifest.jsonl"
"""


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_green_run_of_both_operators_logs_no_error(tmp_path: Path) -> None:
    """Each task defers (the worker asks for its links then) and succeeds; nothing logs an error.

    ``dag.test()`` needs its DAG file in the DAGs folder of a migrated ``AIRFLOW_HOME``, both
    read once per process: the run happens in a throw-away project, in its own pytest.
    """
    project = tmp_path / "project"
    (project / "dags").mkdir(parents=True)
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (640, 480), "tan").save(photo)
    (project / "dags" / "i2v_links_quiet.py").write_text(LINKS_DAG.replace("__IMAGE__", str(photo)))
    (project / "test_links.py").write_text(LINKS_TEST)
    (project / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    bin_dir = Path(sys.executable).parent
    migrate = subprocess.run(
        [str(bin_dir / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_links.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert output.count("Pausing task as DEFERRED") >= 6, "every task must have deferred"
    assert [line for line in output.splitlines() if "XCom not found" in line] == []
