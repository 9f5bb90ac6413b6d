"""The hook: one Vtrix connection, spoken to from a worker (sync) or the triggerer (async)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VConnectionConfigError,
    I2VError,
    I2VGenerationNotFoundError,
    I2VPermissionError,
)
from airflow_provider_i2v.hooks.settings import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    HOOK_NAME,
    ConnectionSettings,
    InvalidConnectionError,
)
from airflow_provider_i2v.protocol import (
    CREATE_PATH,
    GenerationRequest,
    GenerationState,
    poll_path,
)

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.transport import Call

#: A generation id that cannot exist, shaped like a real one (20 lowercase alphanumerics), so
#: a gateway that checks the format answers 404, not 400. Looking it up is free.
CONNECTION_PROBE_ID = "airflowi2vprobe00000"


class I2VHook(BaseHook):
    """Talks to the Vtrix gateway with the bearer key of an ``i2v`` connection.

    :param i2v_conn_id: connection id; ``host`` is the gateway base URL (default
        ``https://cloud.vtrix.ai``), ``password`` the API key; the optional extras are
        declared in :data:`airflow_provider_i2v.hooks.settings.EXTRAS`.

    HTTP clients are shared per process and connection (keep-alive), so creating many
    hooks is cheap. The key is never logged, never part of ``repr`` and never part
    of an exception text.
    """

    conn_name_attr = "i2v_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, i2v_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.i2v_conn_id = i2v_conn_id
        self._settings: ConnectionSettings | None = None

    def __repr__(self) -> str:
        return f"I2VHook(i2v_conn_id={self.i2v_conn_id!r})"

    # -- connection ------------------------------------------------------------------------

    def _build_settings(self, conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
        try:
            settings = ConnectionSettings.from_connection(
                conn.host, conn.password, extra, conn.schema, getattr(conn, "port", None)
            )
        except InvalidConnectionError as exc:
            raise I2VConnectionConfigError(f"connection {self.i2v_conn_id!r}: {exc}") from None
        if not settings.api_key:
            raise I2VConnectionConfigError(
                f"connection {self.i2v_conn_id!r} has no API key: set its password to the Vtrix API key"
            )
        return settings

    def get_settings(self) -> ConnectionSettings:
        """Resolve the connection once (blocking; worker side)."""
        if self._settings is None:
            conn = self.get_connection(self.i2v_conn_id)
            self._settings = self._build_settings(conn, conn.extra_dejson)
        return self._settings

    async def _aresolve(self) -> ConnectionSettings:
        conn = await self.aget_connection(self.i2v_conn_id)
        extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
        return self._build_settings(conn, dict(extra))

    async def aget_settings(self) -> ConnectionSettings:
        """The connection, resolved with Airflow's async API once per event loop for every hook
        of it (a triggerer runs thousands of triggers; each look-up is a supervisor round trip),
        or the settings this hook already resolved in a worker."""
        if self._settings is None:
            from airflow_provider_i2v.hooks.clients import shared_settings

            return await shared_settings(self.i2v_conn_id, self._aresolve)
        return self._settings

    # -- calls -----------------------------------------------------------------------------

    @staticmethod
    def _create_call(request: GenerationRequest) -> Call:
        from airflow_provider_i2v.hooks.interpret import Call

        return Call("POST", CREATE_PATH, json=request.to_body(), creates=True, label="create")

    @staticmethod
    def _poll_call(generation_id: str) -> Call:
        from airflow_provider_i2v.hooks.interpret import Call

        return Call(
            "GET", poll_path(generation_id), label=f"status of {generation_id}", generation_id=generation_id
        )

    def create_generation(self, request: GenerationRequest) -> GenerationState:
        """Submit one generation (paid). Returns the accepted state with its generation id."""
        from airflow_provider_i2v.hooks.transport import request_sync

        return request_sync(self.get_settings(), self._create_call(request), self.log)

    async def acreate_generation(self, request: GenerationRequest) -> GenerationState:
        """Submit one generation (paid) from an event loop (the batch operator's submissions)."""
        from airflow_provider_i2v.hooks.transport import request_async

        settings = await self.aget_settings()
        return await request_async(settings, self._create_call(request), self.log)

    def get_generation(self, generation_id: str) -> GenerationState:
        """Current state of a generation (free)."""
        from airflow_provider_i2v.hooks.transport import request_sync

        return request_sync(self.get_settings(), self._poll_call(generation_id), self.log)

    async def aget_generation(self, generation_id: str) -> GenerationState:
        """Current state of a generation (free), from an event loop.

        A refused key is looked up again once, for every waiter of this connection on the
        loop together: it may have been rotated since the wait began."""
        from airflow_provider_i2v.hooks.clients import shared_settings
        from airflow_provider_i2v.hooks.transport import request_async

        settings = await self.aget_settings()
        call = self._poll_call(generation_id)
        try:
            return await request_async(settings, call, self.log)
        except I2VAuthenticationError:
            if self._settings is not None:  # resolved by this hook in a worker: nothing shared to refresh
                raise
            fresh = await shared_settings(self.i2v_conn_id, self._aresolve, stale=settings)
            if fresh.api_key == settings.api_key:
                raise
            return await request_async(fresh, call, self.log)

    def test_connection(self) -> tuple[bool, str]:
        """Real, cost-free calls: look up a generation id that cannot exist, twice.

        With the connection's key the gateway answers 404 (key accepted) or 401 (refused).
        A 404 alone does not prove the host is the gateway (any web server says 404), so a
        second lookup without any key must be refused: the gateway checks the key
        before it looks anything up. At most one retry each, so the UI's "Test" button
        answers quickly even when the gateway is unreachable.
        """
        from airflow_provider_i2v.hooks.transport import request_sync

        probe = self._poll_call(CONNECTION_PROBE_ID)
        try:
            settings = self.get_settings()
            settings = dataclasses.replace(settings, max_retries=min(1, settings.max_retries))
            try:
                request_sync(settings, probe, self.log)
            except I2VGenerationNotFoundError:
                pass
            else:
                return True, "Connection OK: the gateway answered the status lookup."
            try:
                request_sync(dataclasses.replace(settings, api_key=""), probe, self.log)
            except (I2VAuthenticationError, I2VPermissionError):
                return (
                    True,
                    "Connection OK: the gateway accepted the API key (status lookup of a test id: 404).",
                )
            except I2VGenerationNotFoundError:
                pass
        except I2VConnectionConfigError as exc:
            return False, f"The connection is not usable as configured: {exc.message}"
        except I2VAuthenticationError as exc:
            return False, f"The gateway refused the API key: {exc.message}"
        except I2VError as exc:
            return False, f"The gateway could not be used: {exc.message}"
        return False, (
            f"{settings.base_url} answered a status lookup sent without an API key: it does not check "
            "keys, so it is not the Vtrix gateway. Is the connection's host the gateway's base URL?"
        )
