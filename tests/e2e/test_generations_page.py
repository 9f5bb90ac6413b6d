"""The "Video generations" page in a real Airflow UI, in a real headless Chromium.

What a user sees once the provider is installed and nothing else is configured:

* the page in the navigation (``/plugin/video-generations``) lists one row per generation
  (single tasks and batch items) with the gateway's ids and costs, and the totals add up
  to what the gateway charged;
* a filter narrows the rows; a video plays in the page (the kept copy, and the gateway's
  link); a row links to its task instance, and the task instance's tab shows its rows;
* a user whom the auth manager does not let read a DAG does not see its rows (Airflow's
  simple auth manager in multi-team mode: the DAG's bundle belongs to a team the user is
  not in);
* screenshots of the page in the light and the dark theme go to ``.artifacts/screenshots/``.

The records are written the way the operators write them (``task_state_store``, the record
contract) by tasks of two seeding DAGs, from generations made on the gateway simulator, so
the rows have real DAG runs, task instances, generation ids, links and costs.

Multi-team mode needs its teams to exist before the dag-processor and the api-server start:
the stack creates them between the database's migration and the components' start.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.e2e import browser

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, FrameLocator, Page

    from dev.airflow_stack import AirflowStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
OPEN_DAG = "i2v_ui_open"
SECRET_DAG = "i2v_ui_restricted"
CONN_ID = "i2v_ui"
VIEWER = "viewer"
PAGE_FRAME = "iframe[title='Video generations']"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"

SEED_DAG = """
import json
from datetime import datetime

from airflow.sdk import dag, task

RECORDS = json.loads(__RECORDS__)


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def seed():
    @task
    def generate(index: int, **context):
        context["task_state_store"].set("i2v_generation", RECORDS["single"][index])

    @task
    def batch(**context):
        if RECORDS["batch"]:
            context["task_state_store"].set("i2v_batch/0", RECORDS["batch"])

    generate.expand(index=list(range(len(RECORDS["single"]))))
    batch()


seed()
"""


# --------------------------------------------------------------------------- the gateway's record


def data_url(colour: str) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class Gateway:
    """Generations made on the simulator over HTTP, as the operators would (one key, any value)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers={"Authorization": "Bearer e2e-ui-key"}, timeout=30)

    def create(self, colour: str) -> str:
        from airflow_provider_i2v.protocol import CREATE_PATH, GenerationRequest, parse_generation

        body = GenerationRequest(first_frame_image=data_url(colour), prompt="turn").to_body()
        response = self.http.post(CREATE_PATH, json=body)
        response.raise_for_status()
        return parse_generation(response.json()).generation_id

    def state(self, generation_id: str) -> Any:
        from airflow_provider_i2v.protocol import parse_generation, poll_path

        response = self.http.get(poll_path(generation_id))
        response.raise_for_status()
        return parse_generation(response.json())

    def finished(self, generation_id: str) -> Any:
        deadline = time.monotonic() + 60
        while True:
            state = self.state(generation_id)
            if state.status.is_terminal:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{generation_id} still rendering")
            time.sleep(0.2)


def completed_record(gateway: Gateway, generation_id: str, **extra: Any) -> dict[str, Any]:
    state = gateway.finished(generation_id)
    assert state.status == "completed"
    assert state.cost is not None
    now = time.time()
    return {
        "generation_id": generation_id,
        "gateway": gateway.url,
        "conn_id": CONN_ID,
        "model": state.model,
        "submitted_at": now - 30,
        "status": "completed",
        "finished_at": now - 5,
        "render_seconds": state.render_seconds,
        "cost": str(state.cost),
        "video_urls": state.video_urls,
        **extra,
    }


@pytest.fixture(scope="module")
def records(e2e_simulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The records of both DAGs, from generations the simulator made (and one still rendering);
    the session's simulator is reset afterwards."""
    from airflow_provider_i2v.simulator import SimConfig

    sim = e2e_simulator_server.simulator
    sim.reset(SimConfig())
    sim.configure(generation_seconds=1, video_mode="rendered", video_width=320, video_height=180)
    gateway = Gateway(e2e_simulator_server.url)
    ids = {
        name: gateway.create(colour)
        for name, colour in [
            ("kept", "red"),
            ("linked", "green"),
            ("expired", "yellow"),
            ("item0", "blue"),
            ("secret", "purple"),
        ]
    }
    kept_dir = tmp_path_factory.mktemp("kept-videos")
    first = completed_record(gateway, ids["kept"])
    kept = kept_dir / f"{ids['kept']}.mp4"
    kept.write_bytes(gateway.http.get(first["video_urls"][0]).content)
    first["files"] = [
        {
            "uri": kept.as_uri(),
            "size": kept.stat().st_size,
            "sha256": "-",
            "source_url": first["video_urls"][0],
        }
    ]
    first["video_urls"] = ["http://127.0.0.1:9/expired-link.mp4"]  # the link died; the kept copy plays
    expired = completed_record(gateway, ids["expired"])
    # What a link looks like once the gateway stopped serving it (the simulator's links do
    # not expire): the same address for a file it does not have.
    expired["video_urls"] = [expired["video_urls"][0].replace(ids["expired"], "expiredlink000000000")]
    sim.configure(generation_seconds=600)
    rendering = gateway.create("orange")
    now = time.time()
    opened = {
        "single": [
            first,
            completed_record(gateway, ids["linked"]),
            expired,
            {
                "generation_id": None,
                "conn_id": CONN_ID,
                "status": "failed",
                "submitted_at": now - 20,
                "finished_at": now - 19,
                "error": {"code": "1026", "message": "the image did not pass moderation"},
            },
        ],
        "batch": {
            "0": completed_record(gateway, ids["item0"]),
            "1": {
                "generation_id": rendering,
                "gateway": gateway.url,
                "conn_id": CONN_ID,
                "status": "submitted",
                "submitted_at": now - 3,
            },
            "2": {
                "status": "uncertain",
                "conn_id": CONN_ID,
                "uncertain_creates": 1,
                "pending_since": now - 2,
            },
        },
    }
    secret_record = completed_record(gateway, ids["secret"])
    secret_file = kept_dir / f"{ids['secret']}.mp4"
    secret_file.write_bytes(gateway.http.get(secret_record["video_urls"][0]).content)
    secret_record["files"] = [{"uri": secret_file.as_uri(), "size": secret_file.stat().st_size}]
    secret = {"single": [secret_record], "batch": {}}
    costs = [Decimal(r["cost"]) for r in (*opened["single"], *opened["batch"].values()) if r.get("cost")]
    gateway.http.close()
    yield {
        "open": opened,
        "secret": secret,
        "open_ids": {ids["kept"], ids["linked"], ids["expired"], ids["item0"], rendering},
        "open_rows": len(opened["single"]) + len(opened["batch"]),
        "expired_id": ids["expired"],
        "kept_id": ids["kept"],
        "linked_id": ids["linked"],
        "secret_id": ids["secret"],
        "open_cost": sum(costs, Decimal(0)),
        "secret_cost": Decimal(secret["single"][0]["cost"]),
    }
    sim.reset(SimConfig())


# --------------------------------------------------------------------------- Airflow, multi-team


@pytest.fixture(scope="module")
def team_stack(
    airflow_stack_factory: Callable[..., AirflowStack],
    tmp_path_factory: pytest.TempPathFactory,
    records: dict[str, Any],
) -> AirflowStack:
    """An Airflow whose DAG ``i2v_ui_restricted`` belongs to team_b; ``viewer`` is in team_a only."""
    from importlib.metadata import entry_points

    registered = {ep.value for ep in entry_points(group="airflow.plugins")}
    assert "airflow_provider_i2v.plugins.generations:entry_point_plugin" in registered, (
        "the package does not name the plugin in the airflow.plugins entry-point group "
        "(pyproject.toml), and Airflow 3.3.2 skips provider-info plugins by default"
    )
    root = tmp_path_factory.mktemp("ui-bundles")
    for bundle, dag_id, key in (("open", OPEN_DAG, "open"), ("restricted", SECRET_DAG, "secret")):
        (root / bundle).mkdir()
        source = SEED_DAG.replace("__DAG_ID__", dag_id).replace("__RECORDS__", repr(json.dumps(records[key])))
        (root / bundle / f"{dag_id}.py").write_text(source, encoding="utf-8")

    bundles = [
        {"name": "open", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(root / "open")}},
        {
            "name": "restricted",
            "classpath": LOCAL_BUNDLE,
            "kwargs": {"path": str(root / "restricted")},
            "team_name": "team_b",
        },
    ]
    env = {
        "AIRFLOW__CORE__MULTI_TEAM": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{VIEWER}:viewer:team_a",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
    }
    teams = [("teams", "create", team) for team in ("team_a", "team_b")]
    return airflow_stack_factory(root, env=env, setup_cli=teams)


@pytest.fixture(scope="module")
def runs(team_stack: AirflowStack, e2e_simulator_server: Any) -> dict[str, str]:
    """Both seeding DAGs run to success; their run ids."""
    api = team_stack.client
    api.set_connection(
        CONN_ID,
        "i2v",
        host=e2e_simulator_server.url,
        password="e2e-ui-key",
        extra={"allow_private_outputs": True},
    )
    found = {}
    for dag_id in (OPEN_DAG, SECRET_DAG):
        run = api.run_dag(dag_id, timeout=240, parse_timeout=180)
        assert run["state"] == "success", api.task_states(dag_id, run["dag_run_id"])
        found[dag_id] = run["dag_run_id"]
    return found


def viewer_password(stack: AirflowStack) -> str:
    passwords = json.loads((stack.home / "simple_auth_manager_passwords.json").read_text())
    return str(passwords[VIEWER])


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def chromium_executable() -> str:
    reason = browser.skip_reason()
    if reason:
        pytest.skip(reason)
    path = browser.find_chromium()
    assert path is not None
    return path


@pytest.fixture
def context(chromium_executable: str, tmp_path: Path) -> Iterator[BrowserContext]:
    with browser.chromium_context(chromium_executable, tmp_path / "chromium-profile") as ctx:
        yield ctx


def open_page(page: Page, url: str) -> FrameLocator:
    """Open a UI page holding the plugin's frame; wait until the frame has loaded its data."""
    page.goto(url)
    frame = page.frame_locator(PAGE_FRAME)
    frame.locator("body[data-loaded='true']").wait_for()
    return frame


def reloaded(frame: FrameLocator, action: Callable[[], None]) -> None:
    """Do ``action`` (a filter change) and wait for the page's next answer."""
    body = frame.locator("body")
    body.evaluate("b => b.removeAttribute('data-loaded')")
    action()
    frame.locator("body[data-loaded='true']").wait_for()


def row_ids(frame: FrameLocator) -> set[str]:
    rows = frame.locator("#rows tbody tr[data-status]")
    return {rows.nth(i).get_attribute("data-generation") or "" for i in range(rows.count())}


def play(frame: FrameLocator, generation_id: str, kind: str) -> float:
    """Play a row's video of ``kind`` (kept | gateway); its duration once it plays."""
    frame.locator(f"#rows tbody tr[data-generation='{generation_id}'] button[data-kind='{kind}']").click()
    video = frame.locator("#pv-video")
    return float(
        video.evaluate(
            """v => new Promise((resolve, reject) => {
                 const done = () => resolve(v.duration);
                 if (!v.paused && v.readyState >= 2 && v.currentTime > 0) return done();
                 v.addEventListener('timeupdate', () => { if (v.currentTime > 0) done(); });
                 const failed = () => reject(new Error('video error ' + (v.error && v.error.code)));
                 v.addEventListener('error', failed);
                 v.play().catch(() => {});
               })"""
        )
    )


def shoot(page: Page, name: str) -> Path:
    path = browser.screenshot(page, name)
    print(f"\n[screenshot] {path.relative_to(REPO)}")
    return path


def test_the_page_shows_plays_filters_links_and_hides_what_a_user_may_not_read(
    chromium_executable: str,  # first: skip before any Airflow starts when there is no browser
    team_stack: AirflowStack,
    runs: dict[str, str],
    records: dict[str, Any],
    context: BrowserContext,
) -> None:
    base = team_stack.api_url
    page = context.new_page()
    browser.login(page, base, team_stack.username, team_stack.password)
    try:
        # The page in the navigation, as the admin: every generation of both DAGs.
        frame = open_page(page, f"{base}/plugin/video-generations")
        assert row_ids(frame) >= records["open_ids"] | {records["secret_id"]}
        everything = records["open_rows"] + 1
        assert frame.locator("#rows tbody tr[data-status]").count() == everything
        total = records["open_cost"] + records["secret_cost"]
        assert frame.locator("#t-count").inner_text() == str(everything)
        assert Decimal(frame.locator("#t-cost").inner_text().lstrip("$")) == total
        assert frame.locator("#t-failures").inner_text() == "2"  # 1026 and the uncertain create
        by_dag = frame.locator("#by-dag tbody tr")
        assert by_dag.count() == 2

        # The rendering row got its progress from the gateway.
        rendering = frame.locator("#rows tbody tr[data-status='submitted']")
        assert "gateway: running" in rendering.inner_text()

        # A row links to its task instance (the top window, the UI's route).
        link = frame.locator("#rows tbody tr[data-status='failed'] a").first
        assert link.get_attribute("href") == (
            f"/dags/{OPEN_DAG}/runs/{runs[OPEN_DAG]}/tasks/generate/mapped/3".replace(":", "%3A").replace(
                "+", "%2B"
            )
        )
        assert link.get_attribute("target") == "_top"

        # Filters narrow the rows.
        reloaded(frame, lambda: frame.locator("#f-dag").select_option(OPEN_DAG))
        assert frame.locator("#rows tbody tr[data-status]").count() == records["open_rows"]
        assert Decimal(frame.locator("#t-cost").inner_text().lstrip("$")) == records["open_cost"]
        reloaded(frame, lambda: frame.locator("#f-status").select_option("failed"))
        assert frame.locator("#rows tbody tr[data-status]").count() == 1
        assert "1026" in frame.locator("#rows tbody").inner_text()
        reloaded(frame, lambda: frame.locator("#f-clear").click())
        assert frame.locator("#rows tbody tr[data-status]").count() == everything

        # Videos play in the page: the kept copy (served by the api-server) and a gateway link.
        assert play(frame, records["kept_id"], "kept") > 0
        assert "kept copy" in frame.locator("#pv-source").inner_text()
        assert play(frame, records["linked_id"], "gateway") > 0
        assert "gateway" in frame.locator("#pv-source").inner_text()
        assert frame.locator("#pv-error").is_hidden()

        # A link the gateway no longer serves: the page says it expired, and what to do.
        expired_row = frame.locator(f"#rows tbody tr[data-generation='{records['expired_id']}']")
        expired_row.locator("button[data-kind='gateway']").click()
        error = frame.locator("#pv-error")
        error.wait_for()
        assert "expired" in error.inner_text()
        assert "output_dir" in error.inner_text()

        # Screenshots in both themes (the UI follows the system's; the page follows the UI).
        for theme in ("light", "dark"):
            page.emulate_media(color_scheme=theme)
            page.wait_for_function(f"document.documentElement.classList.contains('{theme}')")
            frame.locator(f"html[data-theme='{theme}']").wait_for()
            shoot(page, f"generations-page-{theme}")
        page.emulate_media(color_scheme="light")

        # A laptop's width: the rows fit without scrolling sideways.
        page.set_viewport_size({"width": 1280, "height": 800})
        assert frame.locator(".table-wrap").evaluate("w => w.scrollWidth <= w.clientWidth")
        shoot(page, "generations-page-laptop")
        page.set_viewport_size({"width": browser.VIEWPORT_WIDTH, "height": browser.VIEWPORT_HEIGHT})

        admin_file_status = page.request.get(
            f"{base}/i2v/api/file",
            params={
                "dag_id": SECRET_DAG,
                "run_id": runs[SECRET_DAG],
                "task_id": "generate",
                "map_index": "0",
            },
        ).status

        # From the task instance to its rows: the tab of the batch task.
        tab = open_page(
            page, f"{base}/dags/{OPEN_DAG}/runs/{runs[OPEN_DAG]}/tasks/batch/plugin/video-generations-task"
        )
        assert tab.locator("#rows tbody tr[data-status]").count() == 3
        assert "Task instance:" in tab.locator("#ti-filter").inner_text()
    except BaseException:
        shoot(page, "generations-page-failure")
        raise
    finally:
        page.close()

    assert admin_file_status == 200
    # A user the auth manager does not let read the restricted DAG does not see its rows.
    viewer = context.new_page()
    context.clear_cookies()
    browser.login(viewer, base, VIEWER, viewer_password(team_stack))
    try:
        frame = open_page(viewer, f"{base}/plugin/video-generations")
        ids = row_ids(frame)
        assert records["secret_id"] not in ids
        assert records["open_ids"] <= ids
        assert frame.locator("#rows tbody tr[data-status]").count() == records["open_rows"]
        assert Decimal(frame.locator("#t-cost").inner_text().lstrip("$")) == records["open_cost"]
        options = frame.locator("#f-dag option").all_inner_texts()
        assert SECRET_DAG not in options
        asked = viewer.request.get(
            f"{base}/i2v/api/generations", params={"dag_id": SECRET_DAG, "live": "false"}
        )
        assert asked.ok
        assert asked.json()["total"] == 0
        # Nor its kept file, which the admin gets.
        secret_file = {
            "dag_id": SECRET_DAG,
            "run_id": runs[SECRET_DAG],
            "task_id": "generate",
            "map_index": "0",
        }
        assert viewer.request.get(f"{base}/i2v/api/file", params=secret_file).status == 404
        shoot(viewer, "generations-page-viewer")
    except BaseException:
        shoot(viewer, "generations-page-viewer-failure")
        raise
