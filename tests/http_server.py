"""A non-gateway HTTP server on loopback that answers from a script: for what the simulator
must not do (a CDN, a proxy's error page, a web server at the wrong host, broken headers)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: ``None``: the right length; a string: sent verbatim (broken on purpose).
    content_length: str | None = None


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers request N with ``answers[N]``; the last answer repeats. Counts requests."""

    daemon_threads = True

    def __init__(self, answers: Sequence[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_answer(self, path: str) -> Answer:
        with self._lock:
            self.requests.append(path)
            return self.answers[min(len(self.requests), len(self.answers)) - 1]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        answer = self.server.next_answer(self.path)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", answer.content_length or str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def scripted_server(*answers: Answer) -> Iterator[ScriptedServer]:
    server = ScriptedServer(answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def plain_server(status: int, body: bytes, headers: dict[str, str] | None = None) -> ScriptedServer:
    """A started server answering every request the same way (call ``shutdown()`` when done)."""
    server = ScriptedServer([Answer(status, body, headers or {})])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
