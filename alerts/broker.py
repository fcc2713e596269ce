"""How to reach an MQTT broker: the URL's address, TLS, the protocol version and its fallback, and
the reconnect backoff, as records a connection is made from (docs/mqtt-api.md, docs/security.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from sitload.errors import ConfigError

if TYPE_CHECKING:    # ssl is loaded where a TLS context is made: most commands make none
    import ssl

PROTOCOLS = ("auto", "5", "3.1.1")
_UNSUPPORTED_PROTOCOL = 132  # CONNACK reason code; paho maps a 3.1.1 broker's refusal (1) to it


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker listens, whether over TLS, and the login the URL carries."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://[user[:pass]@]host[:port]`` (default 1883) or ``mqtts://...`` (TLS, default 8883)."""
    form = "mqtt://host[:port] or mqtts://host[:port]"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:   # "Invalid IPv6 URL", a port out of range or not a number
        raise ConfigError(f"broker URL {url!r} is not {form} ({exc})") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"broker URL {url!r} is not {form}")
    if port == 0:
        raise ConfigError(f"broker URL {url!r}: port 0 is not a port a broker listens on")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings for ``mqtts://``. ``ca_certs``: PEM file of the CA(s) the broker's certificate
    must chain to, read at once (ConfigError naming it when it cannot be used); None = the system's
    CA store (OpenSSL honours ``SSL_CERT_FILE``). ``certfile``/``keyfile``: a client certificate.
    ``insecure`` skips the host name check (the certificate is still checked)."""

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if self.ca_certs is not None:
            import ssl

            self._load_cas(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    def context(self) -> ssl.SSLContext:
        """The client's SSL context: the server's certificate required and, unless ``insecure``,
        its host name checked."""
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
        if self.certfile is not None:
            context.load_cert_chain(self.certfile, self.keyfile)
        self._load_cas(context)
        context.check_hostname = not self.insecure
        return context

    def _load_cas(self, context: ssl.SSLContext) -> None:
        import ssl

        if self.ca_certs is None:
            context.load_default_certs()
            return
        try:
            context.load_verify_locations(self.ca_certs)
        except OSError as exc:  # ssl.SSLError included
            why = "no PEM certificate in it" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
            raise ConfigError(f"cannot use the CA file {self.ca_certs}: {why}") from exc


@dataclass(frozen=True)
class Backoff:
    """Reconnect waits: ``min_s`` after the broker is lost, doubling up to ``max_s`` while it stays
    away (paho's automatic reconnect; reset by every successful connect)."""

    min_s: float = 1.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ConfigError(f"reconnect backoff needs 0 < min <= max, got {self.min_s} and {self.max_s} s")


@dataclass(frozen=True)
class BrokerOptions:
    """How a client connects: ``protocol`` '5', '3.1.1' or 'auto' (see ``ProtocolChoice``; with
    'auto', ``connack_timeout_s`` is how long a v5 CONNECT may go unanswered), a login (overriding
    the URL's), TLS for ``mqtts://`` (None: the system's CA store) and the reconnect backoff."""

    protocol: str = "auto"
    username: str | None = None
    password: str | None = None
    tls: TlsOptions | None = None
    backoff: Backoff = field(default_factory=Backoff)
    connack_timeout_s: float = 3.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"MQTT protocol {self.protocol!r} is not 'auto', '5' or '3.1.1'")
        if not self.connack_timeout_s > 0:
            raise ConfigError(f"CONNACK timeout must be > 0, got {self.connack_timeout_s} s")


class ProtocolChoice:
    """The MQTT version a connection speaks now. 'auto' starts with v5 and falls back to 3.1.1 for
    good when the broker refuses v5 (CONNACK "unsupported protocol version") or leaves a v5 CONNECT
    unanswered for ``connack_timeout_s`` (a 3.1.1-only broker may misparse it, e.g. amqtt). A
    broker that once accepted v5 speaks it: a slow CONNACK later (a busy broker, thousands of
    clients reconnecting after its restart) is waited for, never taken for a 3.1.1 broker."""

    def __init__(self, protocol: str, connack_timeout_s: float) -> None:
        self.version = "3.1.1" if protocol == "3.1.1" else "5"
        self.connack_timeout_s = connack_timeout_s
        self._auto = protocol == "auto"

    @property
    def probing(self) -> bool:
        """Whether the broker may still turn out to speak 3.1.1 only."""
        return self._auto and self.version == "5"

    def refused(self, reason_code: int) -> bool:
        """Whether a failed CONNACK's ``reason_code`` means "not MQTT v5" to an 'auto' connection."""
        return self.probing and reason_code == _UNSUPPORTED_PROTOCOL

    def fall_back(self) -> None:
        self.version = "3.1.1"

    def accepted(self) -> None:
        """The broker accepted a connection in this version: no more probing."""
        self._auto = False
