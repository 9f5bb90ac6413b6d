"""Reading an answer's body within bounds, for the blocking and the async transport alike.

A hostile or broken server cannot hurt the process: an answer is read as a stream and
refused once it passes :data:`~airflow_provider_i2v.protocol.MAX_RESPONSE_BYTES`
(before reading anything when its ``Content-Length`` already says so) or its deadline,
so a server that sends gigabytes or drips bytes forever fails one request instead of
exhausting a triggerer shared by thousands of generations.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from airflow_provider_i2v.hooks.interpret import TransientFailure
from airflow_provider_i2v.protocol import MAX_RESPONSE_BYTES


class BoundedBody:
    """The chunks of one answer, refused past the size cap or past ``deadline`` (monotonic)."""

    __slots__ = ("_chunks", "_deadline", "_size")

    def __init__(self, headers: Mapping[str, str], deadline: float) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._deadline = deadline
        announced = headers.get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) > MAX_RESPONSE_BYTES:
            raise _too_big(int(announced))

    def add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > MAX_RESPONSE_BYTES:
            raise _too_big(self._size)
        if time.monotonic() > self._deadline:
            raise TransientFailure("the answer took too long to arrive", nothing_created=False)
        self._chunks.append(chunk)

    def content(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


def _too_big(size: int) -> TransientFailure:
    return TransientFailure(
        f"answer larger than {MAX_RESPONSE_BYTES} bytes ({size}); refusing to read more",
        nothing_created=False,
    )
