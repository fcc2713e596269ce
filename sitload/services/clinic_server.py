"""The clinic page on loopback: the board as a live web page (standard library HTTP server).

``/`` the page, ``/clinic.js`` its script, ``/api/patients`` every row as JSON (``?sort=`` one of
``SORT_KEYS``), ``/api/events`` a Server-Sent Events stream of changed rows (the first event holds
every row; ``?since=VERSION`` starts after a snapshot of that version instead), at most one event
per ``batch_s``. The server listens on 127.0.0.1 only and answers only requests addressed to that
name (a Host check against DNS rebinding); the page loads nothing from elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sitload.alerts.clinic_board import SORT_KEYS
from sitload.alerts.clinic_feed import ClinicFeed
from sitload.services.clinic_page import PAGE_HTML, PAGE_JS
from sitload.timestamps import iso_utc
from sitload.vocab import ClinicSort

KEEP_ALIVE_S = 15.0  # a comment line this often keeps idle proxies and browsers from closing the stream
_SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
                     "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class ClinicServer:
    """Serves ``feed``'s board on http://127.0.0.1:``port``/ (0: a free port) from a thread."""

    def __init__(self, feed: ClinicFeed, port: int = 0, *, batch_s: float = 0.25) -> None:
        self.feed = feed
        self.batch_s = batch_s
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="clinic-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def patients(self, sort: ClinicSort) -> dict:
        version, rows = self.feed.snapshot(sort)
        return {"generated": iso_utc(time.time(), timespec="milliseconds"), "version": version, "patients": rows}

    def stream(self, write, since: int | None) -> None:
        """Write events to ``write`` until the client goes or the server closes."""
        if since is None:
            since, rows = self.feed.snapshot()
            write(_event({"version": since, "patients": rows}))
        last_write = time.monotonic()
        while not self._closing.is_set():
            version, rows = self.feed.wait_changes(since, timeout_s=1.0)
            if rows:
                since = version
                write(_event({"version": version, "patients": rows}))
                last_write = time.monotonic()
                self._closing.wait(self.batch_s)  # the changes meanwhile go in the next event
            elif time.monotonic() - last_write >= KEEP_ALIVE_S:
                write(b": keep-alive\n\n")
                last_write = time.monotonic()


def _event(doc: dict) -> bytes:
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def _handler(server: ClinicServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            if self.headers.get("Host") not in server.hosts:
                self._send(HTTPStatus.FORBIDDEN, "text/plain", b"only http://127.0.0.1 serves this page\n")
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if url.path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE_HTML.encode())
            elif url.path == "/clinic.js":
                self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", PAGE_JS.encode())
            elif url.path == "/api/patients":
                sort = query.get("sort", [ClinicSort.DEVICE.value])[0]
                if sort not in SORT_KEYS:
                    self._send(HTTPStatus.BAD_REQUEST, "text/plain",
                               f"sort must be one of {', '.join(SORT_KEYS)}\n".encode())
                    return
                self._send(HTTPStatus.OK, "application/json", json.dumps(server.patients(sort)).encode())
            elif url.path == "/api/events":
                since = query.get("since", [""])[0]
                self._events(int(since) if since.isdigit() else None)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in _SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _events(self, since: int | None) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            for name, value in _SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.close_connection = True

            def write(chunk: bytes) -> None:
                self.wfile.write(chunk)
                self.wfile.flush()
            try:
                server.stream(write, since)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the page was closed

        def log_message(self, format: str, *args) -> None:
            pass  # requests are not logged: the page polls nothing, the stream is one request

    return Handler
