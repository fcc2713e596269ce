"""The publishing side of one device: prompts through the durable outbox (QoS 1, expiring), the
retained state, status and sensor availability, Home Assistant discovery, and the patient's acks and
pain reports dispatched as records."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sitload.alerts.broker import BrokerOptions
from sitload.alerts.connection import MqttConnection, new_client_id
from sitload.alerts.ha_discovery import HaDevice, discovery_configs
from sitload.alerts.messages import (AckMessage, SymptomReport, alert_payload, availability_payload,
                                     presence_payload, state_payload)
from sitload.alerts.outbox import Outbox, OutboxEntry
from sitload.alerts.policy import Prompt
from sitload.alerts.sitting_today import SittingToday
from sitload.alerts.topics import DEFAULT_PREFIX, Topics
from sitload.events import EngineState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What became of a session's prompts at the broker: taken (PUBACK) by this process, taken by
    an earlier one (a replay with a used outbox), expired unsent, still waiting in the outbox."""

    sent_now: int
    delivered_before: int
    expired: int
    waiting: int

    def __str__(self) -> str:
        rest = [f"{n} {what}" for n, what in ((self.delivered_before, "delivered before"),
                                             (self.expired, "expired unsent"),
                                             (self.waiting, "waiting in the outbox")) if n]
        return ", ".join([f"{self.sent_now} sent now", *rest])


@dataclass(frozen=True)
class PublisherOptions:
    """What a publisher does besides sending prompts. ``prefix``: of its topics; ``await_prompter``:
    hold prompts until a prompter has announced itself online (False for other consumers);
    ``timezone`` (IANA name, None = this machine's): the day of the state's ``sitting_today_min``;
    ``ha_device``: turns on Home Assistant discovery for this device."""

    prefix: str = DEFAULT_PREFIX
    await_prompter: bool = True
    timezone: str | None = None
    ha_device: HaDevice | None = None


class AlertPublisher:
    """Publishes prompts (QoS 1, expiring), the retained state and status for one device.

    Prompts go to a SQLite outbox first and leave it only when the broker has acknowledged them
    (PUBACK), so a broker outage or a restart of this process loses none; prompts that expire while
    waiting are dropped and logged. A PUBACK saying that no subscriber matched (MQTT v5) leaves the
    prompt pending; it is sent again at the next flush (a prompter coming online triggers one).
    A prompter that was online when the broker was lost is waited for after the reconnect, whatever
    ``await_prompter`` says: until it has subscribed again, a PUBACK would only mean that some
    other client (a dashboard, a logger) took the prompt. Prompts in flight at the loss are sent
    again when it is back (receivers dedupe by id).
    ``broker``: how to connect; ``options``: see ``PublisherOptions``. ``on_ack`` / ``on_symptom``
    receive validated ``AckMessage`` / ``SymptomReport`` records on the network thread. ``clock``
    (epoch seconds) times the payloads and expires prompts.
    """

    def __init__(self, broker_url: str, device_id: str, *, outbox_path: str | Path,
                 broker: BrokerOptions | None = None, options: PublisherOptions | None = None,
                 on_ack: Callable[[AckMessage], None] | None = None,
                 on_symptom: Callable[[SymptomReport], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        options = options or PublisherOptions()
        self.topics = Topics(options.prefix, device_id)
        self._today = SittingToday(options.timezone)
        self._discovery = discovery_configs(self.topics, options.ha_device) if options.ha_device is not None else {}
        self._clock = clock
        self._on_ack = on_ack
        self._on_symptom = on_symptom
        self._await_prompter = options.await_prompter
        self.prompter_online = False
        self._prompter_expected = False  # online when the broker was lost; not yet back
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._inflight: dict[int, str] = {}  # mid -> prompt id, awaiting PUBACK
        self._sent_ids: set[str] = set()  # in flight: handed to paho, no PUBACK yet (paho retries them)
        self._early_acks: dict[int, tuple[bool, str]] = {}  # PUBACKs that beat the recording of their mid
        self._flushes = 0  # flushes started on the network thread's behalf, not yet done
        self._changed = threading.Event()  # a PUBACK, a prompter's presence or a flush's end
        self._flushing = False
        self._closed = False
        self._state: dict | None = None
        self._availability: dict | None = None
        self.outbox = Outbox(outbox_path)
        self._started = clock()
        self.outbox.prune(self._started)
        t = self.topics
        self.conn = MqttConnection(
            broker_url, new_client_id("publisher", device_id), broker,
            will=(t.status, lambda: presence_payload("status", False, clock())),
            handlers={t.ack: self._handle_ack, t.symptom: self._handle_symptom, t.prompter: self._handle_prompter},
            on_connected=self._connected)
        self.conn.on_publish_ack = self._delivered
        self.conn.start()

    def publish_prompt(self, prompt: Prompt) -> bool:
        """Queue a prompt and send it when possible; False if this prompt id was queued before."""
        doc = alert_payload(prompt)
        added = self.outbox.add(OutboxEntry(prompt.id, json.dumps(doc, ensure_ascii=False), prompt.created,
                                            prompt.expires))
        if added:
            self.flush()
        return added

    def publish_state(self, state: EngineState) -> None:
        """Publish the engine state (retained); the latest is re-sent after a reconnect."""
        self._state = state_payload(state, self._clock(), self._today.update(state))
        self.conn.publish(self.topics.state, self._state, qos=1, retain=True)

    def publish_availability(self, online: bool, battery: int | None = None) -> None:
        """Publish whether the sensor itself is reachable and its battery charge (retained);
        re-sent after a reconnect."""
        self._availability = availability_payload(online, battery, self._clock())
        self.conn.publish(self.topics.availability, self._availability, qos=1, retain=True)

    def flush(self) -> None:
        """Send every pending, unexpired prompt that is not already in flight; drop expired ones."""
        waiting_for_prompter = self._await_prompter or self._prompter_expected
        if not self.conn.connected or (waiting_for_prompter and not self.prompter_online):
            return
        with self._flush_lock:
            if self._closed:
                return
            try:
                self._flushing = True
                self._flush_pending()
            finally:
                with self._lock:
                    self._flushing = False
                    self._early_acks.clear()

    def _flush_pending(self) -> None:
        # paho calls on_publish holding its own mutex, so self._lock is never held across a publish
        now = self._clock()
        for entry in self.outbox.pending():
            with self._lock:
                if entry.id in self._sent_ids or self.outbox.state(entry.id) != "pending":
                    continue  # in flight, or taken since the list was read
            if entry.expires <= now:
                self.outbox.mark(entry.id, "expired", now)
                log.warning("prompt %s expired before the broker could take it; dropped", entry.id)
                continue
            with self._lock:
                self._sent_ids.add(entry.id)
            info = self.conn.publish(self.topics.alert, json.loads(entry.payload), qos=1,
                                     expiry_s=round(entry.expires - now))
            with self._lock:
                if info is None:
                    self._sent_ids.discard(entry.id)
                    return
                if info.mid in self._early_acks:
                    self._settle(entry.id, *self._early_acks.pop(info.mid))
                else:
                    self._inflight[info.mid] = entry.id
                self._early_acks.clear()

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether the broker is connected, waiting up to ``timeout_s`` seconds for it."""
        return self.conn.wait_connected(timeout_s)

    def settle(self, timeout_s: float) -> None:
        """Flush, then wait up to ``timeout_s`` seconds while prompts are in flight (no PUBACK
        yet), a flush is under way, or a prompter that was online before a reconnect is not back."""
        self.flush()
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            self._changed.clear()
            with self._lock:
                if not (self._sent_ids or self._flushes or (self._prompter_expected and not self.prompter_online)):
                    return
            self._changed.wait(min(remaining, 1.0))

    def delivery(self, prompt_ids: list[str]) -> Delivery:
        """What became of these prompts (see ``Delivery``)."""
        states = []
        for pid in prompt_ids:
            state, done_at = self.outbox.outcome(pid)
            states.append("now" if state == "delivered" and done_at >= self._started else state)
        return Delivery(states.count("now"), states.count("delivered"), states.count("expired"),
                        len(states) - sum(states.count(s) for s in ("now", "delivered", "expired")))

    def close(self) -> None:
        """Announce offline (retained status), disconnect, close the outbox. Pending prompts stay queued."""
        self.conn.close(last_words=(self.topics.status, presence_payload("status", False, self._clock())))
        with self._flush_lock:
            self._closed = True
            self.outbox.close()

    @property
    def rejected(self) -> list[tuple[str, str]]:
        return self.conn.rejected

    # ---- network-thread callbacks ------------------------------------------------------------

    def _connected(self) -> None:
        # after a broker restart the prompter must resubscribe before it can receive: wait for its
        # presence again (retained, or live when it reconnects); it is handled after this callback
        with self._lock:
            if self.prompter_online:  # a reconnect: the prompter had been online
                self._prompter_expected = True
                # paho re-sends these at once, to whoever has subscribed again by then
                self._sent_ids -= set(self._inflight.values())
                self._inflight.clear()
        self.prompter_online = False
        self.conn.publish(self.topics.status, presence_payload("status", True, self._clock()), qos=1, retain=True)
        for topic, config in self._discovery.items():
            self.conn.publish(topic, config, qos=1, retain=True)
        for topic, doc in ((self.topics.state, self._state), (self.topics.availability, self._availability)):
            if doc is not None:
                self.conn.publish(topic, doc, qos=1, retain=True)
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Flush on a thread of its own (paho's network thread must not wait on the flush lock)."""
        def run() -> None:
            try:
                self.flush()
            finally:
                with self._lock:
                    self._flushes -= 1
                self._changed.set()

        with self._lock:
            self._flushes += 1
        threading.Thread(target=run, daemon=True).start()

    def _delivered(self, mid: int, taken: bool, reason: str) -> None:
        with self._lock:
            pid = self._inflight.pop(mid, None)
            if pid is None and self._flushing:
                self._early_acks[mid] = (taken, reason)
            elif pid is not None:
                self._settle(pid, taken, reason)

    def _settle(self, pid: str, taken: bool, reason: str) -> None:
        if taken:
            self.outbox.mark(pid, "delivered", self._clock())
        else:  # stays pending: the next flush sends it again
            log.info("prompt %s not taken by the broker (%s); kept", pid, reason)
        self._sent_ids.discard(pid)  # no longer in flight
        self._changed.set()

    def _handle_ack(self, doc: dict) -> None:
        if self._on_ack is not None:
            self._on_ack(AckMessage.from_json(doc))

    def _handle_symptom(self, doc: dict) -> None:
        if self._on_symptom is not None:
            self._on_symptom(SymptomReport.from_json(doc))

    def _handle_prompter(self, doc: dict) -> None:
        self.prompter_online = bool(doc["online"])
        self._prompter_expected = False  # back, or gone for good (its last will)
        self._changed.set()
        if self.prompter_online:
            self._flush_soon()
