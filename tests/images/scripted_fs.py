"""A memory filesystem whose behaviour a test scripts: what ``info`` reports, and whether reading fails.

Registered with fsspec and attached to Airflow's object storage under its own
protocol (``i2vscripted://``) by the ``scripted`` fixture of ``tests/test_images.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fsspec.implementations.memory import MemoryFileSystem


class ScriptedFS(MemoryFileSystem):
    protocol = ("i2vscripted",)
    store: ClassVar[dict[str, Any]] = {}
    pseudo_dirs: ClassVar[list[str]] = [""]
    opened: ClassVar[list[str]] = []
    fail_with: ClassVar[BaseException | None] = None
    hide_size: ClassVar[bool] = False

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" in mode:
            ScriptedFS.opened.append(path)
            if ScriptedFS.fail_with is not None:
                raise ScriptedFS.fail_with
        return super()._open(path, mode, **kwargs)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        info = dict(super().info(path, **kwargs))
        if ScriptedFS.hide_size:
            info.pop("size", None)
        return info
