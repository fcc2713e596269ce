"""Headless Chromium for the tests: its flags, and a page driven over the Chrome DevTools Protocol
(a WebSocket, via the `websockets` package Bumble already brings) for pages that change while
they are looked at."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from conftest import require_binary

QUIET_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-extensions", "--disable-default-apps", "--no-pings")


def require_chromium() -> str:
    return require_binary(("chromium", "chromium-browser", "google-chrome"), package="chromium")


class LivePage:
    """One tab of a headless Chromium started in ``profile`` (closed by ``close``)."""

    def __init__(self, exe: str, profile: Path, timeout_s: float = 30.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen([exe, *QUIET_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                       "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout_s) as answer:
            tab = next(t for t in json.load(answer) if t["type"] == "page")
        self._ws = connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout_s)
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events meanwhile are skipped)."""
        sent = next(self._ids)
        self._ws.send(json.dumps({"id": sent, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == sent:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str, timeout_s: float = 30.0) -> None:
        """Load ``url`` and return once its document (and the scripts it names) has loaded."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        while self.evaluate("[location.href, document.readyState]") != [url, "complete"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not load")
            time.sleep(0.02)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        if getattr(self, "_ws", None) is not None:
            self._ws.close()
        self._proc.kill()
        self._proc.wait(timeout=10)
