"""Fixtures for the page's API: a real SQLite metadata table, a fake auth manager, a client.

Rows are created the way the operators' records are (the record contract), through
Airflow's own ORM model ``TaskStateStoreModel``, in a throw-away SQLite database. The
auth manager is faked (it is Airflow's edge: which DAGs a user may read); the user is
given by overriding Airflow's ``get_user`` dependency, as Airflow's own tests do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class FakeUser:
    name: str

    def get_id(self) -> str:
        return self.name

    def get_name(self) -> str:
        return self.name


class FakeAuthManager:
    """Per-user readable DAGs; records what it was asked."""

    def __init__(self, readable: dict[str, set[str]]) -> None:
        self.readable = readable
        self.asked: list[str] = []

    def get_authorized_dag_ids(self, *, user: FakeUser, method: str = "GET", **_: Any) -> set[str]:
        assert method == "GET"
        self.asked.append(user.name)
        return set(self.readable.get(user.name, set()))


class MetadataDB:
    """A SQLite file holding Airflow's ``task_state_store`` table."""

    def __init__(self, path: Path) -> None:
        import airflow.models.dagrun  # noqa: F401  (the table its foreign key names)
        from airflow.models.task_state_store import TaskStateStoreModel
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        self.engine = create_engine(f"sqlite:///{path}")
        TaskStateStoreModel.__table__.create(self.engine)
        self.Session = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._run_ids: dict[tuple[str, str], int] = {}

    @contextmanager
    def session(self) -> Iterator[Any]:
        session = self.Session()
        try:
            yield session
            session.commit()
        finally:
            session.close()

    def put(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str,
        value: Any,
        *,
        map_index: int = -1,
        updated_at: datetime | None = None,
    ) -> None:
        from airflow.models.task_state_store import TaskStateStoreModel

        dag_run_id = self._run_ids.setdefault((dag_id, run_id), len(self._run_ids) + 1)
        with self.session() as session:
            session.add(
                TaskStateStoreModel(
                    dag_run_id=dag_run_id,
                    dag_id=dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    map_index=map_index,
                    key=key,
                    value=json.dumps(value),
                    updated_at=updated_at or datetime.now(tz=UTC),
                )
            )


def entry(status: str = "completed", **fields: Any) -> dict[str, Any]:
    """A generation record of the contract's shape."""
    record: dict[str, Any] = {
        "generation_id": fields.pop("generation_id", "gen0000000000000001"),
        "gateway": "http://127.0.0.1:1",
        "conn_id": "i2v_default",
        "model": "I2V-01-live",
        "status": status,
        "submitted_at": fields.pop("submitted_at", 1_765_000_000.0),
    }
    record.update(fields)
    return record


@pytest.fixture
def db(tmp_path: Path) -> MetadataDB:
    return MetadataDB(tmp_path / "metadata.db")


@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch) -> FakeAuthManager:
    from airflow_provider_i2v.plugins import app as app_module

    manager = FakeAuthManager({"alice": {"dag_a", "dag_b"}, "bob": {"dag_b"}})
    monkeypatch.setattr(app_module, "auth_manager", lambda: manager)
    return manager


def make_client(db: MetadataDB, user: str | None = "alice", **app_kwargs: Any) -> Any:
    """A TestClient of the plugin's app, signed in as ``user`` (None: no credentials at all)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from airflow_provider_i2v.plugins.app import create_app

    factory: Any = db.session
    app = create_app(session_factory=factory, **app_kwargs)
    if user is not None:
        app.dependency_overrides[get_user] = lambda: FakeUser(user)
    return TestClient(app)
