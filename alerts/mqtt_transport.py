"""MQTT on paho-mqtt 2.x: the shared connection (URL, TLS, reconnect, v5 -> 3.1.1 fallback, inbound
validation) and the ``AlertPublisher`` that delivers prompts through a durable outbox."""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sitload.errors import ConfigError, MessageError

from sitload.alerts.ha_discovery import HaDevice, discovery_configs
from sitload.alerts.messages import AckMessage, SymptomReport, alert_payload, presence_payload, state_payload
from sitload.alerts.outbox import Outbox, OutboxEntry
from sitload.alerts.policy import Prompt
from sitload.alerts.schemas import decode_inbound
from sitload.alerts.topics import DEFAULT_PREFIX, Topics
from sitload.alerts.sitting_today import SittingToday
from sitload.events import EngineState

log = logging.getLogger(__name__)

_CONNACK_TIMEOUT_S = 3.0
_UNSUPPORTED_PROTOCOL = 132  # CONNACK reason code; paho maps a 3.1.1 broker's refusal (1) to it
_LOGIN_REFUSED = (134, 135)  # bad user name or password, not authorized (3.1.1's 4 and 5 map to these)
_NO_MATCHING_SUBSCRIBERS = 16  # PUBACK reason code (v5): the broker took the message but nobody got it


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://[user[:pass]@]host[:port]`` (default 1883) or ``mqtts://...`` (TLS, default 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"broker URL {url!r} is not mqtt://host[:port] or mqtts://host[:port]")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"broker URL {url!r} has a bad port") from exc
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings for ``mqtts://``. ``ca_certs``: PEM file of the CA(s) the broker's certificate
    must chain to, read at once (ConfigError naming it when it cannot be used); None = the system's
    CA store (OpenSSL honours ``SSL_CERT_FILE``)."""

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.ca_certs is None:
            return
        try:
            ssl.create_default_context(cafile=self.ca_certs)
        except OSError as exc:  # ssl.SSLError included
            why = "no PEM certificate in it" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
            raise ConfigError(f"cannot use the CA file {self.ca_certs}: {why}") from exc


class MqttConnection:
    """One paho client kept connected in the background, with validated inbound handlers.

    ``protocol`` is '5', '3.1.1' or 'auto' (MQTT v5, falling back to 3.1.1 when the broker refuses
    v5, e.g. the embedded amqtt broker). ``start()`` connects. Handlers run on paho's network thread;
    a handler's error or a rejected message is logged (and kept in ``rejected``), never raised into
    the loop. A login the broker refuses (bad credentials, not authorized) is kept in ``refused`` and
    passed to ``on_refused`` (logged when there is none); paho keeps retrying until ``close``.
    """

    def __init__(self, broker_url: str, client_id: str, *, protocol: str = "auto",
                 username: str | None = None, password: str | None = None, tls: TlsOptions | None = None,
                 will: tuple[str, Callable[[], dict]] | None = None,
                 handlers: dict[str, Callable[[dict], None]] | None = None,
                 wildcard: tuple[str, Callable[[dict, str], None]] | None = None,
                 on_connected: Callable[[], None] | None = None,
                 on_refused: Callable[[str], None] | None = None,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0) -> None:
        if protocol not in ("auto", "5", "3.1.1"):
            raise ConfigError(f"MQTT protocol {protocol!r} is not 'auto', '5' or '3.1.1'")
        self.address = parse_broker_url(broker_url)
        self.protocol = "3.1.1" if protocol == "3.1.1" else "5"
        self._auto = protocol == "auto"
        self._client_id = client_id
        self._username = username if username is not None else self.address.username
        self._password = password if password is not None else self.address.password
        self._tls = tls or TlsOptions()
        self._will = will
        self._handlers = handlers or {}
        self._wildcard = wildcard  # (filter with one '+' for the device, handler(doc, device))
        self._on_connected = on_connected
        self._on_refused = on_refused
        self.refused: str | None = None  # why the broker refused the login, once it has
        self._delays = (max(1, round(reconnect_min_s)), max(1, round(reconnect_max_s)))
        self._lock = threading.RLock()
        self._closed = False
        self._awaiting_connack = False  # TCP up, CONNACK not yet seen
        self._retired: mqtt.Client | None = None  # the v5 client being replaced by a 3.1.1 one
        self.rejected: list[tuple[str, str]] = []  # (topic, reason) of every inbound message refused
        self.on_publish_ack: Callable[[int, bool, str], None] | None = None  # (mid, taken, reason)
        self.client: mqtt.Client | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho's network thread; retried with backoff until ``close``)."""
        version = mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self._client_id, protocol=version)
        client.reconnect_delay_set(*self._delays)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self.address.tls:
            client.tls_set(ca_certs=self._tls.ca_certs, certfile=self._tls.certfile, keyfile=self._tls.keyfile,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(self._tls.insecure)
        if self._will is not None:
            topic, make = self._will
            client.will_set(topic, json.dumps(make()), qos=1, retain=True)
        client.on_socket_open = self._handle_socket_open
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self.client = client  # before the loop starts: callbacks publish through self.client
        client.connect_async(self.address.host, self.address.port, keepalive=30)
        client.loop_start()

    def _start_fall_back(self, client: mqtt.Client) -> None:
        self._awaiting_connack = False
        self._retired = client
        threading.Thread(target=self._fall_back, args=(client,), daemon=True).start()

    def _fall_back(self, old: mqtt.Client) -> None:
        old.disconnect()
        old.loop_stop()
        with self._lock:
            if self._closed or old is not self.client:
                return
            log.info("broker %s:%s does not speak MQTT v5; using MQTT 3.1.1", self.address.host, self.address.port)
            self.protocol = "3.1.1"
            self.start()

    def close(self, last_words: tuple[str, dict] | None = None) -> None:
        """Publish ``last_words`` (retained) if connected, then disconnect and stop the network thread."""
        with self._lock:
            self._closed = True
            client = self.client
        if client is None:
            return
        if last_words is not None and client.is_connected():
            info = client.publish(last_words[0], json.dumps(last_words[1]), qos=1, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(2.0)
        client.disconnect()
        client.loop_stop()

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected()

    # ---- paho callbacks (network thread) -----------------------------------------------------

    def _handle_socket_open(self, client, userdata, sock) -> None:
        self._awaiting_connack = True
        if self._auto and self.protocol == "5":
            # a 3.1.1-only broker may misparse a v5 CONNECT and neither answer nor hang up
            timer = threading.Timer(_CONNACK_TIMEOUT_S, self._connack_overdue, args=(client,))
            timer.daemon = True
            timer.start()

    def _connack_overdue(self, client: mqtt.Client) -> None:
        if self._awaiting_connack and client is self.client and self.protocol == "5" and not self._closed:
            log.warning("no CONNACK to MQTT v5 within %s s", _CONNACK_TIMEOUT_S)
            self._start_fall_back(client)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._awaiting_connack = False
        if reason_code.is_failure:
            if self._auto and self.protocol == "5" and reason_code.value == _UNSUPPORTED_PROTOCOL:
                self._start_fall_back(client)
            elif reason_code.value in _LOGIN_REFUSED:
                who = f" of {self._username!r}" if self._username is not None else ""
                self.refused = (f"the MQTT broker at {self.address.host}:{self.address.port} refused the "
                                f"login{who}: {reason_code} (check the user name and password)")
                if self._on_refused is None:
                    log.warning("%s", self.refused)
                else:  # the owner reports it
                    self._guard("on refused", self._on_refused, self.refused)
            else:
                log.warning("broker %s:%s refused the connection: %s", self.address.host, self.address.port,
                            reason_code)
            return
        self.refused = None
        log.info("connected to %s:%s (MQTT %s)", self.address.host, self.address.port, self.protocol)
        for topic in [*self._handlers, *([self._wildcard[0]] if self._wildcard else [])]:
            client.subscribe(topic, qos=1)
        if self._on_connected is not None:
            self._guard("on connect", self._on_connected)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if not self._closed and client is not self._retired and self.refused is None:
            log.warning("lost the broker %s:%s (%s); reconnecting", self.address.host, self.address.port,
                        reason_code)

    def _handle_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is None and self._wildcard and mqtt.topic_matches_sub(self._wildcard[0],
                                                                         message.topic):
            device = message.topic.split("/")[-2]
            handler = (lambda doc: self._wildcard[1](doc, device))
        if handler is None:
            return
        try:
            doc = decode_inbound(message.topic.rsplit("/", 1)[-1], message.payload)
        except MessageError as exc:
            self.reject(message.topic, str(exc))
            return
        self._guard(f"handler of {message.topic}", handler, doc)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if self.on_publish_ack is not None:
            taken = not reason_code.is_failure and reason_code.value != _NO_MATCHING_SUBSCRIBERS
            self._guard("publish ack", self.on_publish_ack, mid, taken, str(reason_code))

    def reject(self, topic: str, reason: str) -> None:
        log.warning("rejected message on %s: %s", topic, reason)
        self.rejected.append((topic, reason))

    @staticmethod
    def _guard(what: str, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except Exception:  # a bug in a callback must not stop the network loop
            log.exception("error in %s", what)

    # ---- publishing --------------------------------------------------------------------------

    def publish(self, topic: str, doc: dict, *, qos: int, retain: bool = False,
                expiry_s: int | None = None) -> mqtt.MQTTMessageInfo | None:
        """Publish now if connected (None when not: the caller keeps the message)."""
        client = self.client
        if client is None or not client.is_connected():
            return None
        props = None
        if expiry_s is not None and self.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(expiry_s))
        info = client.publish(topic, json.dumps(doc, ensure_ascii=False), qos=qos, retain=retain, properties=props)
        # a QoS 1 message that met a connection just lost stays in paho's queue and goes on reconnect
        accepted = info.rc == mqtt.MQTT_ERR_SUCCESS or (qos > 0 and info.rc == mqtt.MQTT_ERR_NO_CONN)
        return info if accepted else None


class AlertPublisher:
    """Publishes prompts (QoS 1, expiring), the retained state and status for one device.

    Prompts go to a SQLite outbox first and leave it only when the broker has acknowledged them
    (PUBACK), so a broker outage or a restart of this process loses none; prompts that expire while
    waiting are dropped and logged. A PUBACK saying that no subscriber matched (MQTT v5) leaves the
    prompt pending; it is sent again at the next flush (a prompter coming online triggers one). With
    ``await_prompter`` (default) prompts are held until a prompter has announced itself online on the
    ``prompter`` topic, so they are not sent to nobody. ``on_ack`` / ``on_symptom`` receive validated
    ``AckMessage`` / ``SymptomReport`` records on the network thread. ``timezone`` (IANA name, None =
    this machine's) sets the day of the state's ``sitting_today_min``; ``ha_device`` turns on Home
    Assistant discovery for this device.
    """

    def __init__(self, broker_url: str, device_id: str, *, outbox_path: str | Path,
                 prefix: str = DEFAULT_PREFIX, protocol: str = "auto",
                 username: str | None = None, password: str | None = None, tls: TlsOptions | None = None,
                 on_ack: Callable[[AckMessage], None] | None = None,
                 on_symptom: Callable[[SymptomReport], None] | None = None,
                 await_prompter: bool = True, clock: Callable[[], float] = time.time,
                 timezone: str | None = None, ha_device: HaDevice | None = None,
                 reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0) -> None:
        self.topics = Topics(prefix, device_id)
        self._today = SittingToday(timezone)
        self._discovery = discovery_configs(self.topics, ha_device) if ha_device is not None else {}
        self._clock = clock
        self._on_ack = on_ack
        self._on_symptom = on_symptom
        self._await_prompter = await_prompter
        self.prompter_online = False
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._inflight: dict[int, str] = {}  # mid -> prompt id, awaiting PUBACK
        self._sent_ids: set[str] = set()  # handed to paho by this process (paho retries them itself)
        self._early_acks: dict[int, tuple[bool, str]] = {}  # PUBACKs that beat the recording of their mid
        self._flushing = False
        self._closed = False
        self._state: dict | None = None
        self._availability: dict | None = None
        self.outbox = Outbox(outbox_path)
        self.outbox.prune(clock())
        t = self.topics
        self.conn = MqttConnection(
            broker_url, f"sitload-{device_id}", protocol=protocol, username=username, password=password, tls=tls,
            will=(t.status, lambda: presence_payload("status", False, clock())),
            handlers={t.ack: self._handle_ack, t.symptom: self._handle_symptom, t.prompter: self._handle_prompter},
            on_connected=self._connected, reconnect_min_s=reconnect_min_s, reconnect_max_s=reconnect_max_s)
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

    def publish_availability(self, online: bool) -> None:
        """Publish whether the sensor itself is reachable (retained); re-sent after a reconnect."""
        self._availability = presence_payload("availability", online, self._clock())
        self.conn.publish(self.topics.availability, self._availability, qos=1, retain=True)

    def flush(self) -> None:
        """Send every pending, unexpired prompt that is not already in flight; drop expired ones."""
        if not self.conn.connected or (self._await_prompter and not self.prompter_online):
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
            if entry.id in self._sent_ids:
                continue
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
        deadline = time.monotonic() + timeout_s
        while not self.conn.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.conn.connected

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
        self.prompter_online = False
        self.conn.publish(self.topics.status, presence_payload("status", True, self._clock()), qos=1, retain=True)
        for topic, config in self._discovery.items():
            self.conn.publish(topic, config, qos=1, retain=True)
        for topic, doc in ((self.topics.state, self._state), (self.topics.availability, self._availability)):
            if doc is not None:
                self.conn.publish(topic, doc, qos=1, retain=True)
        threading.Thread(target=self.flush, daemon=True).start()

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
            self._sent_ids.discard(pid)

    def _handle_ack(self, doc: dict) -> None:
        if self._on_ack is not None:
            self._on_ack(AckMessage.from_json(doc))

    def _handle_symptom(self, doc: dict) -> None:
        if self._on_symptom is not None:
            self._on_symptom(SymptomReport.from_json(doc))

    def _handle_prompter(self, doc: dict) -> None:
        self.prompter_online = bool(doc["online"])
        if self.prompter_online:
            threading.Thread(target=self.flush, daemon=True).start()
