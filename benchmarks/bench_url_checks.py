"""Benchmark: a batch's http(s) images checked before its first create, 1,000 URLs on loopback.

Run: ``python benchmarks/bench_url_checks.py [N]`` (from the repository root; N defaults
to 1,000).

An image server runs in its own process on 127.0.0.1 (so its CPU is not counted), serving
one 1280x720 JPEG of noise (~0.4 MB) under N different paths, honouring ``Range`` or not.
:func:`~airflow_provider_i2v.images.check_image_urls` checks them all; the table gives,
per case, the wall time for N URLs, this process's CPU per URL, the bytes the server sent
per URL and how many URLs were reported bad:

* ``ranged``: the server honours ``Range`` (the usual CDN): only the first 64 KiB are read;
* ``whole``: the server ignores ``Range``: every image is read whole (and walked);
* ``ranged, 10 % missing``: one URL in ten answers 404: all reported at once;
* ``ranged, one at a time``: concurrency 1, for comparison.

Target: N = 1,000 checked in well under a minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import reset_shared_state
from airflow_provider_i2v.images import URL_CHECK_CONCURRENCY, check_image_urls

_SERVER = textwrap.dedent(
    """
    import http.server, io, os, sys
    from PIL import Image

    side = (1280, 720)
    image = Image.frombytes("RGB", side, os.urandom(side[0] * side[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    BODY = out.getvalue()
    SENT = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/sent":
                body = str(SENT[0]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if "/missing/" in self.path:
                self.send_response(404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not found")
                return
            wanted = self.headers.get("Range")
            body, status, extra = BODY, 200, {}
            if wanted and "/ranged/" in self.path:
                first, _, last = wanted[6:].partition("-")
                end = min(int(last), len(BODY) - 1)
                body, status = BODY[int(first): end + 1], 206
                extra["Content-Range"] = f"bytes {first}-{end}/{len(BODY)}"
            self.send_response(status)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            SENT[0] += len(body)
            try:
                self.wfile.write(body)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], len(BODY), flush=True)
    server.serve_forever()
    """
)


def _sent(base: str) -> int:
    import httpx

    return int(httpx.get(f"{base}/sent", trust_env=False).text)


def _case(
    base: str, kind: str, n: int, concurrency: int, missing_every: int = 0
) -> tuple[float, float, int, int]:
    urls = [
        f"{base}/{'missing' if missing_every and i % missing_every == 0 else kind}/{i}.jpg" for i in range(n)
    ]
    settings = ConnectionSettings.from_connection(None, "bench", {"timeout": 30})
    reset_shared_state()
    before = _sent(base)
    wall, cpu = time.perf_counter(), time.process_time()
    bad = check_image_urls(urls, settings=settings, concurrency=concurrency)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu / n * 1000, (_sent(base) - before) // n, len(bad)


def main(n: int = 1000) -> int:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # clients closing kept-alive connections make it print resets
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        port, size = (int(x) for x in server.stdout.readline().split())
        base = f"http://127.0.0.1:{port}"
        check_image_urls([f"{base}/ranged/warm.jpg"])  # imports and the first client, not measured
        cases = [
            (f"ranged, concurrency {URL_CHECK_CONCURRENCY}", "ranged", URL_CHECK_CONCURRENCY, 0),
            (
                f"whole (Range ignored), concurrency {URL_CHECK_CONCURRENCY}",
                "whole",
                URL_CHECK_CONCURRENCY,
                0,
            ),
            (
                f"ranged, 10 % missing, concurrency {URL_CHECK_CONCURRENCY}",
                "ranged",
                URL_CHECK_CONCURRENCY,
                10,
            ),
            ("ranged, one at a time", "ranged", 1, 0),
        ]
        print(f"check_image_urls: {n:,} URLs of one {size / 1e6:.2f} MB 1280x720 JPEG, server on loopback")
        print(f"{'case':<44} {'wall (s)':>9} {'CPU/URL (ms)':>13} {'sent/URL (B)':>13} {'reported':>9}")
        for label, kind, concurrency, missing in cases:
            wall, cpu_ms, sent, bad = _case(base, kind, n, concurrency, missing)
            print(f"{label:<44} {wall:>9.2f} {cpu_ms:>13.2f} {sent:>13,} {bad:>9,}")
    finally:
        server.kill()
        server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
