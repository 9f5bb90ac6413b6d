"""One bad image among good ones (issue: every image checked before it costs money).

On real Airflow: the good images produce videos, the bad one fails at once with its
reason in the task log, burns none of its retries, and the simulator never hears of it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from dev.airflow_stack import AirflowStack

DAG_ID = "e2e_bad_image"

DAG = """
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bad_image():
    ImageToVideoOperator.partial(
        task_id="generate", poll_interval=0.5, retries=2, retry_delay=timedelta(seconds=1)
    ).expand(first_frame_image=__IMAGES__)


bad_image()
"""


def data_url(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_bad_image_fails_alone_with_its_reason_and_costs_nothing(
    airflow_stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
) -> None:
    from airflow_provider_i2v.simulator import sample_url

    e2e_simulator.configure(generation_seconds=2)
    good_url = sample_url(e2e_simulator_server.url, 640, 480)
    bad_url = sample_url(e2e_simulator_server.url, 640, 200, "png")  # checked from its first bytes
    images = [good_url, data_url((640, 480)), data_url((640, 200)), bad_url]
    write_dag(DAG_ID, DAG.replace("__DAG_ID__", DAG_ID).replace("__IMAGES__", repr(images)))
    api = airflow_stack.client
    api.wait_for_dag(DAG_ID, timeout=120)
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID)["dag_run_id"]
    run = api.wait_for_run(DAG_ID, run_id, timeout=240, interval=1.0)
    assert run["state"] == "failed"

    tis = {t["map_index"]: t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "generate"}
    assert [tis[i]["state"] for i in range(4)] == ["success", "success", "failed", "failed"]
    for index in (2, 3):  # a data URL and an http(s) URL: the same check, the same message
        assert tis[index]["try_number"] == 1  # refused at once: no retry can make the image valid
        log = api.task_log(DAG_ID, run_id, "generate", 1, map_index=index)
        assert "I2VInvalidRequestError" in log, log[-3000:]
        assert "640x200" in log
        assert "short side" in log

    for index in (0, 1):
        assert api.xcom(DAG_ID, run_id, "generate", map_index=index)["status"] == "completed"
    # The simulator was asked for the two good images only.
    assert e2e_simulator.creations == 2
    creates = [r for r in e2e_simulator.requests if r.endpoint == "create"]
    assert len(creates) == 2
    sizes = {r.params["first_frame_image"] for r in creates}
    assert good_url in sizes  # sent unchanged
    assert bad_url not in sizes
    bad_payload = images[2].split(",", 1)[1]
    assert f"<{len(bad_payload)} base64 characters>" not in str(sizes)
