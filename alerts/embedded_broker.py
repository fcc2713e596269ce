"""An amqtt broker on a free loopback port, in a background thread with its own asyncio loop.

amqtt speaks MQTT 3.1.1 only: sitload's clients (protocol 'auto') fall back to 3.1.1 against it, so
there is no broker-side message expiry; prompters drop expired prompts by their ``expires`` field.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass, field

from amqtt.broker import Broker

from sitload.errors import SitloadError

log = logging.getLogger(__name__)
_PLUGINS = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedBroker:
    """A running embedded broker: connect to ``url``; ``stop()`` shuts it down (idempotent)."""

    host: str
    port: int
    protocol: str = "3.1.1"
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


def start_embedded_broker(port: int | None = None, timeout_s: float = 10.0) -> EmbeddedBroker:
    """Start an anonymous-only broker on 127.0.0.1 (a free port unless given); returns once it listens."""
    broker = EmbeddedBroker("127.0.0.1", port or _free_port())
    started = threading.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        broker._stop = asyncio.Event()
        amqtt = Broker({"listeners": {"default": {"type": "tcp", "bind": f"{broker.host}:{broker.port}"}},
                        "plugins": _PLUGINS})
        try:
            await amqtt.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        await broker._stop.wait()
        await amqtt.shutdown()

    def run() -> None:
        broker._loop = asyncio.new_event_loop()
        try:
            broker._loop.run_until_complete(serve())
        finally:
            broker._loop.close()

    for noisy in ("amqtt", "transitions"):  # per-connection INFO chatter; keep it out of sitload's output
        if logging.getLogger(noisy).level == logging.NOTSET:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    broker._thread = threading.Thread(target=run, name="sitload-embedded-broker", daemon=True)
    broker._thread.start()
    if not started.wait(timeout_s) or failure:
        broker.stop()
        raise SitloadError(f"the embedded MQTT broker did not start on {broker.host}:{broker.port}: "
                           f"{failure[0] if failure else 'timed out'}")
    log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) listening on %s", broker.url)
    return broker
