"""A non-gateway HTTP server on loopback that answers from a script: for what the simulator
must not do (a CDN, a proxy's error page, a web server at the wrong host, broken headers)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

#: How often a server's loop looks for ``shutdown()``: socketserver's default of 0.5 s would
#: make every test that stops a server half a second slower.
POLL_INTERVAL = 0.01


def serve(server: http.server.HTTPServer) -> threading.Thread:
    """Start ``server`` on a daemon thread; ``server.shutdown()`` returns within POLL_INTERVAL."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True
    )
    thread.start()
    return thread


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
    serve(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def plain_server(status: int, body: bytes, headers: dict[str, str] | None = None) -> ScriptedServer:
    """A started server answering every request the same way (call ``shutdown()`` when done)."""
    server = ScriptedServer([Answer(status, body, headers or {})])
    serve(server)
    return server


# --- an image server and a proxy ------------------------------------------------------------


@dataclass
class Resource:
    """One file an :class:`ImageServer` serves, and how."""

    body: bytes = b""
    content_type: str | None = "image/jpeg"
    status: int = 200
    #: Honour ``Range: bytes=a-b`` (206 with Content-Range); ``False``: answer 200 with it all.
    ranges: bool = True
    #: Send no Content-Length (the body ends when the connection closes).
    unsized: bool = False
    #: Content-Range's total as ``*`` (a server that does not know the size).
    total_unknown: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    #: Answer only once this is set (a server that hangs); the server sets it when it stops.
    hold: threading.Event | None = None


class ImageServer(http.server.ThreadingHTTPServer):
    """Serves :class:`Resource` s by path (404 for others); records ``(path, Range header)``."""

    daemon_threads = True

    def __init__(self, resources: dict[str, Resource]) -> None:
        self.resources = resources
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        self.holds: list[threading.Event] = [r.hold for r in resources.values() if r.hold is not None]
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ImageHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    server: ImageServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path if not self.path.startswith("http") else "/" + self.path.split("/", 3)[3]
        with self.server._lock:
            self.server.requests.append((path, self.headers.get("Range")))
        resource = self.server.resources.get(path.split("?")[0])
        if resource is None:
            resource = Resource(b"<html>not found</html>", "text/html", status=404)
        if resource.hold is not None:
            resource.hold.wait()
        body, status, extra = resource.body, resource.status, dict(resource.headers)
        wanted = self.headers.get("Range")
        if status == 200 and resource.ranges and wanted and wanted.startswith("bytes="):
            first, _, last = wanted[len("bytes=") :].partition("-")
            start, end = int(first), min(int(last or len(body) - 1), len(body) - 1)
            if start >= len(body):
                status, body = 416, b""
                extra["Content-Range"] = f"bytes */{len(resource.body)}"
            else:
                status, body = 206, body[start : end + 1]
                total = "*" if resource.total_unknown else str(len(resource.body))
                extra["Content-Range"] = f"bytes {start}-{end}/{total}"
        self.send_response(status)
        if resource.content_type:
            self.send_header("Content-Type", resource.content_type)
        for name, value in extra.items():
            self.send_header(name, value)
        if resource.unsized:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with self.server._lock:  # counted before sending: the client may be done before we are
            self.server.bytes_sent += len(body)
        try:
            self.wfile.write(body)
        except OSError:  # the client stopped reading (it had what it needed)
            return

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def image_server(resources: dict[str, Resource]) -> Iterator[ImageServer]:
    server = ImageServer(resources)
    serve(server)
    try:
        yield server
    finally:
        for hold in server.holds:
            hold.set()
        server.shutdown()
        server.server_close()


class CountingProxy(http.server.ThreadingHTTPServer):
    """A forward HTTP proxy on loopback that sends every request to ``upstream`` (a loopback
    server standing in for the internet) and counts what passes through it."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[str] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: CountingProxy

    def do_GET(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        with self.server._lock:
            self.server.requests.append(self.path)  # absolute-form: the URL asked for
        target = urlsplit(self.path)
        upstream = urlsplit(self.server.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")}
        length = int(self.headers.get("Content-Length") or 0)
        content = self.rfile.read(length) if length else None
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request(self.command, path, body=content, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        connection.close()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def counting_proxy(upstream: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(upstream)
    serve(proxy)
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
