"""One paho-mqtt 2.x client kept connected in the background: connect, reconnect with backoff,
v5 -> 3.1.1 fallback, last will, subscriptions and validated inbound handlers, publishing."""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sitload.alerts.broker import BrokerOptions, ProtocolChoice, TlsOptions, parse_broker_url
from sitload.alerts.schemas import decode_inbound
from sitload.errors import MessageError

log = logging.getLogger(__name__)

_LOGIN_REFUSED = (134, 135)  # bad user name or password, not authorized (3.1.1's 4 and 5 map to these)
_NO_MATCHING_SUBSCRIBERS = 16  # PUBACK reason code (v5): the broker took the message but nobody got it
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


def new_client_id(role: str, device: str | None = None) -> str:
    """A client id no other process holds: ``sitload-<role>[-<device>]-<8 hex>``. Two sitload
    processes never take each other's session over (a broker disconnects the older of two
    clients with one id); binding ids to users is the broker's part (docs/security.md)."""
    return "-".join(["sitload", role, *([device] if device else []), uuid.uuid4().hex[:8]])


class MqttConnection:
    """One paho client kept connected in the background, with validated inbound handlers.

    ``start()`` connects (``options``: protocol, login, TLS, backoff). ``will`` is (topic, a
    function making the document), published retained at QoS 1 by the broker when the connection
    dies. ``handlers`` map exact topics to handler(doc); ``wildcards`` map filters with one '+' for
    the device (``<prefix>/+/<name>``) to handler(doc, device). All are subscribed at
    ``subscribe_qos`` on every connect, before ``on_connected`` runs. Handlers run on paho's
    network thread; a handler's error or a rejected message is logged (and kept in
    ``rejected``), never raised into the loop. A login the broker
    refuses (bad credentials, not authorized), or a TLS certificate of the broker that cannot be
    verified (a private CA not given), is kept in ``refused`` as one line naming the broker and
    the fix, and passed to ``on_refused`` (logged once when there is none); paho keeps retrying
    until ``close``.
    """

    def __init__(self, broker_url: str, client_id: str, options: BrokerOptions | None = None, *,
                 will: tuple[str, Callable[[], dict]] | None = None,
                 handlers: dict[str, Callable[[dict], None]] | None = None,
                 wildcards: dict[str, Callable[[dict, str], None]] | None = None,
                 on_connected: Callable[[], None] | None = None,
                 on_refused: Callable[[str], None] | None = None, subscribe_qos: int = 1) -> None:
        options = options or BrokerOptions()
        self.address = parse_broker_url(broker_url)
        self._protocol = ProtocolChoice(options.protocol, options.connack_timeout_s)
        self.client_id = client_id
        self._username = options.username if options.username is not None else self.address.username
        self._password = options.password if options.password is not None else self.address.password
        self._tls = options.tls or TlsOptions()
        self._backoff = options.backoff
        self._will = will
        self._handlers = handlers or {}
        self._wildcards = wildcards or {}
        self._subscribe_qos = subscribe_qos
        self._on_connected = on_connected
        self._on_refused = on_refused
        self.refused: str | None = None  # why the broker refused the login, once it has
        self._lock = threading.RLock()
        self._closed = False
        self._up = threading.Event()  # set from a successful CONNACK to the next loss
        self._awaiting_connack = False  # TCP up, CONNACK not yet seen
        self._retired: mqtt.Client | None = None  # the v5 client being replaced by a 3.1.1 one
        self.rejected: list[tuple[str, str]] = []  # (topic, reason) of every inbound message refused
        self.on_publish_ack: Callable[[int, bool, str], None] | None = None  # (mid, taken, reason)
        self.client: mqtt.Client | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho's network thread; retried with backoff until ``close``)."""
        version = mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=version)
        client.reconnect_delay_set(self._backoff.min_s, self._backoff.max_s)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self.address.tls:
            client.tls_set_context(self._tls.context())
        if self._will is not None:
            topic, make = self._will
            client.will_set(topic, json.dumps(make()), qos=1, retain=True)
        client.on_socket_open = self._handle_socket_open
        client.on_connect_fail = self._handle_connect_fail
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
            self._protocol.fall_back()
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
    def protocol(self) -> str:
        """The MQTT version in use: '5' or '3.1.1'."""
        return self._protocol.version

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected()

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether the broker is connected, waiting up to ``timeout_s`` seconds for it."""
        self._up.wait(timeout_s)
        return self.connected

    # ---- paho callbacks (network thread) -----------------------------------------------------

    def _handle_socket_open(self, client, userdata, sock) -> None:
        self._awaiting_connack = True
        if self._protocol.probing:
            timer = threading.Timer(self._protocol.connack_timeout_s, self._connack_overdue, args=(client,))
            timer.daemon = True
            timer.start()

    def _connack_overdue(self, client: mqtt.Client) -> None:
        if self._awaiting_connack and client is self.client and self._protocol.probing and not self._closed:
            log.warning("no CONNACK to MQTT v5 within %s s", self._protocol.connack_timeout_s)
            self._start_fall_back(client)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._awaiting_connack = False
        if reason_code.is_failure:
            if self._protocol.refused(reason_code.value):
                self._start_fall_back(client)
            elif reason_code.value in _LOGIN_REFUSED:
                who = f" of {self._username!r}" if self._username is not None else ""
                self._refuse(f"the MQTT broker at {self.address.host}:{self.address.port} refused the "
                             f"login{who}: {reason_code} (check the user name and password)")
            else:
                log.warning("broker %s:%s refused the connection: %s", self.address.host, self.address.port,
                            reason_code)
            return
        self.refused = None
        log.info("connected to %s:%s (MQTT %s)", self.address.host, self.address.port, self.protocol)
        for topic in [*self._handlers, *self._wildcards]:
            client.subscribe(topic, qos=self._subscribe_qos)
        self._up.set()
        if self._on_connected is not None:
            self._guard("on connect", self._on_connected)

    def _handle_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its ``except OSError`` around the connect: the error is at hand
        exc = sys.exc_info()[1]
        if not isinstance(exc, ssl.SSLCertVerificationError):
            return  # unreachable for now (refused, timed out): retried with backoff
        where = f"{self.address.host}:{self.address.port}"
        fix = (f"its certificate is not issued to {self.address.host}; connect by the name it is issued to"
               if exc.verify_code == _HOSTNAME_MISMATCH
               else "give the CA that signed it with --ca-file")
        self._refuse(f"cannot verify the TLS certificate of the MQTT broker at {where}: "
                     f"{exc.verify_message or exc.reason} ({fix})")

    def _refuse(self, reason: str) -> None:
        """The broker will not take this client as it is set up: said once, to the owner or the log."""
        if reason == self.refused:
            return
        self.refused = reason
        if self._on_refused is None:
            log.warning("%s", reason)
        else:  # the owner reports it
            self._guard("on refused", self._on_refused, reason)

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if client is self.client:
            self._up.clear()
        if not self._closed and client is not self._retired and self.refused is None:
            log.warning("lost the broker %s:%s (%s); reconnecting", self.address.host, self.address.port,
                        reason_code)

    def _handle_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is None:
            on_doc = next((on_doc for sub, on_doc in self._wildcards.items()
                           if mqtt.topic_matches_sub(sub, message.topic)), None)
            if on_doc is not None:
                device = message.topic.split("/")[-2]  # a filter's '+' is the next to last level
                handler = (lambda doc: on_doc(doc, device))
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
        """Publish now if connected (None when not: the caller keeps the message). ``expiry_s`` is
        the v5 Message Expiry Interval (3.1.1 has none)."""
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
