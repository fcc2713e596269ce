"""mqtts:// with a password against a real Mosquitto TLS listener (certificates made for the test)."""

import datetime as dt
import ipaddress
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts import AlertPublisher, Prompter, TlsOptions
from conftest import FAST, MosquittoBroker, make_prompt, require_mosquitto, wait_until


def _write_ca_and_server_cert(d):
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


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    exe = require_mosquitto()
    d = tmp_path_factory.mktemp("mosquitto-tls")
    ca, cert, key = _write_ca_and_server_cert(d)
    passwd = d / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "patient", "correct horse"], check=True,
                   capture_output=True)
    passwd.chmod(0o600)
    broker = MosquittoBroker(exe, d, tls=True, settings=(
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nallow_anonymous false\npassword_file {passwd}"))
    broker.start()
    yield broker, str(ca)
    broker.stop()


def test_prompt_over_tls_with_password(tls_broker, tmp_path):
    broker, ca = tls_broker
    url = f"mqtts://patient:correct%20horse@{broker.host}:{broker.port}"
    pub = AlertPublisher(url, "tls1", outbox_path=tmp_path / "o.db", tls=TlsOptions(ca_certs=ca), **FAST)
    prompter = Prompter(broker.url, "tls1", username="patient", password="correct horse",
                        tls=TlsOptions(ca_certs=ca), **FAST)
    try:
        p = make_prompt("tls1")
        pub.publish_prompt(p)
        wait_until(lambda: prompter.prompts, what="prompt over TLS")
        assert prompter.prompts[0]["id"] == p.id and pub.conn.protocol == "5"
    finally:
        prompter.close()
        pub.close()


def test_wrong_password_never_connects(tls_broker, tmp_path, caplog):
    broker, ca = tls_broker
    pub = AlertPublisher(broker.url, "tls2", outbox_path=tmp_path / "o.db", username="patient", password="nope",
                         tls=TlsOptions(ca_certs=ca), **FAST)
    try:
        wait_until(lambda: "refused the connection" in caplog.text, what="refusal logged")
        assert not pub.conn.connected
        assert "Bad user name or password" in caplog.text or "Not authorized" in caplog.text
    finally:
        pub.close()
