"""A local simulator of the Vtrix gateway: real HTTP, configurable timing and faults.

The provider's tests, the demo and benchmarks run against it offline. It serves the
gateway's wire contract (through :mod:`airflow_provider_i2v.protocol`, so it
cannot drift from the client), its own output files, and a control plane under
``/_sim/``; it records every request so tests can assert, for instance, that a
retried task created exactly one generation.

Usage::

    from airflow_provider_i2v.simulator import SimConfig, SimulatorServer

    with SimulatorServer(SimConfig(generation_seconds=0.5, seed=1)) as server:
        ...  # point the connection at server.url
        assert server.simulator.creations == 1

Importing this package is cheap and never imports Airflow; uvicorn is imported only
when a server starts, PyAV and Pillow only when a video is rendered.
"""

from __future__ import annotations

from .app import Simulator
from .config import SimConfig
from .faults import FAULT_KINDS, FAULT_SCOPES, SURVIVABLE_FAULTS, Fault, FaultKind, survivable_faults
from .generations import Generation
from .record import RequestRecord
from .routes import FILES_PREFIX, Endpoint, file_path
from .samples import sample_url
from .server import SimulatorServer

__all__ = [
    "FAULT_KINDS",
    "FAULT_SCOPES",
    "FILES_PREFIX",
    "SURVIVABLE_FAULTS",
    "Endpoint",
    "Fault",
    "FaultKind",
    "Generation",
    "RequestRecord",
    "SimConfig",
    "Simulator",
    "SimulatorServer",
    "file_path",
    "sample_url",
    "survivable_faults",
]
