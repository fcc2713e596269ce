"""Shared fixtures: a real Mosquitto broker on a free loopback port, certificates for its TLS listener."""

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from scipy.spatial.transform import Rotation

from sitload.alerts.broker import Backoff, BrokerOptions
from sitload.alerts.policy import Prompt, prompt_id

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # a background job of a non-interactive shell ignores Ctrl-C, and so would every process a
    # test starts: the tests that interrupt a command would wait for it for ever
    signal.signal(signal.SIGINT, signal.default_int_handler)

FAST_BACKOFF = Backoff(min_s=0.1, max_s=0.5)
"""Reconnect backoff for MQTT tests: a broker back is found within half a second."""


def fast_reconnect(**options) -> BrokerOptions:
    """``BrokerOptions(**options)`` with the tests' short reconnect backoff."""
    return BrokerOptions(backoff=FAST_BACKOFF, **options)


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch):
    """Tests run with the default settings, whatever $SITLOAD_CONFIG the user has set."""
    monkeypatch.delenv("SITLOAD_CONFIG", raising=False)


def wait_until(cond, timeout: float = 8.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class ShiftedClock:
    """Wall time plus ``shift`` seconds: a test moves it on instead of sleeping."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift

    def advance(self, seconds: float) -> None:
        self.shift += seconds


@contextmanager
def listening(host: str, port: int, *topics: str,
              protocol: int = mqtt.MQTTv5) -> Iterator[tuple[mqtt.Client, list[tuple[str, dict]]]]:
    """A bare paho client subscribed to ``topics`` at QoS 1 on every connect: yields it and the
    (topic, JSON document) of every message it receives."""
    got: list[tuple[str, dict]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.on_connect = lambda c, userdata, flags, code, props: [c.subscribe(t, qos=1) for t in topics]
    client.on_message = lambda c, userdata, message: got.append((message.topic, json.loads(message.payload)))
    client.connect(host, port)
    client.loop_start()
    try:
        yield client, got
    finally:
        client.disconnect()  # before loop_stop, which would otherwise wait out the loop's 1 s select
        client.loop_stop()


def make_prompt(device: str, kind: str = "break", expires_in: float = 900.0, created: float | None = None) -> Prompt:
    """A prompt as the policy would make it (deterministic id), created now unless given."""
    created = time.time() if created is None else created
    return Prompt(prompt_id(device, kind, created), kind, created, created + expires_in,
                  f"You have been sitting for 31 min — stand up ({kind})", stretch="standing-hip-hinge")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rotation(axis, deg: float) -> np.ndarray:
    """The 3 x 3 matrix of a rotation by ``deg`` degrees about ``axis`` (for synthetic sensors)."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return Rotation.from_rotvec(np.radians(deg) * axis).as_matrix()


def require_binary(names: tuple[str, ...], *, also: tuple[str, ...] = (), package: str) -> str:
    """The first of ``names`` on PATH (or of the paths ``also``); when none is there the test fails
    in CI and is skipped elsewhere."""
    exe = next((shutil.which(n) for n in names if shutil.which(n)), None) or next(
        (p for p in also if os.access(p, os.X_OK)), None)
    if exe is None:
        reason = f"{names[0]} is not installed (Debian: apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return exe


def require_mosquitto() -> str:
    """The mosquitto broker binary (Debian puts it in /usr/sbin)."""
    return require_binary(("mosquitto",), also=("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"),
                          package="mosquitto")


def write_ca_and_server_cert(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sitload test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = d / "ca.pem", d / "server.pem", d / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class MosquittoBroker:
    """A Mosquitto process; ``stop()`` and ``start()`` keep the same port (for outage tests).

    ``settings`` are mosquitto.conf lines for the listener (TLS files) and security (auth);
    with ``own_listener`` False they hold the listener lines themselves, ``port`` among them.
    """

    exe: str
    workdir: Path
    host: str = "127.0.0.1"
    port: int = field(default_factory=_free_port)
    settings: str = "allow_anonymous true"
    tls: bool = False
    own_listener: bool = True
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        conf = self.workdir / "mosquitto.conf"
        # as root, mosquitto would drop to its own user and could not read the test's private files
        user = "user root\n" if os.geteuid() == 0 else ""
        listener = f"listener {self.port} {self.host}\n" if self.own_listener else ""
        conf.write_text(f"{listener}{self.settings}\npersistence false\n{user}"
                        "log_dest stderr\nlog_type error\nlog_type warning\n")
        self.proc = subprocess.Popen([self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / "mosquitto.log", "ab"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}; see {self.workdir}/mosquitto.log")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not accept connections on {self.host}:{self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    """The real Mosquitto broker (anonymous, plain TCP on loopback), shared by the session."""
    broker = MosquittoBroker(require_mosquitto(), tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_mosquitto(tmp_path):
    """A Mosquitto of one test's own (it may stop and restart it; no retained state of others)."""
    broker = MosquittoBroker(require_mosquitto(), tmp_path)
    broker.start()
    yield broker
    broker.stop()


def children(pid: int) -> list[str]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:     # the process has ended
            continue
        if stat.rsplit(")", 1)[1].split()[1] == str(pid):   # the field after the state
            found.append(entry.name)
    return found



@pytest.fixture(autouse=True)
def _signal_mask_kept():
    """No test leaves Ctrl-C or SIGTERM blocked: the commands a later test starts would inherit
    the mask and never see them (a fork's helpers hold them while they start workers)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before, "the signal mask changed"
