"""mqtts:// with a password against a real Mosquitto TLS listener (certificates made for the test)."""

import subprocess

import pytest

from alerts import AlertPublisher, Prompter, TlsOptions
from conftest import FAST, MosquittoBroker, make_prompt, require_mosquitto, wait_until, write_ca_and_server_cert


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    exe = require_mosquitto()
    d = tmp_path_factory.mktemp("mosquitto-tls")
    ca, cert, key = write_ca_and_server_cert(d)
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
        wait_until(lambda: pub.conn.refused, what="refusal seen")
        assert not pub.conn.connected
        assert pub.conn.refused.startswith(f"the MQTT broker at {broker.host}:{broker.port} refused the login of "
                                           "'patient': ")
        assert pub.conn.refused.endswith(("Not authorized (check the user name and password)",
                                          "Bad user name or password (check the user name and password)"))
        assert pub.conn.refused in caplog.text
    finally:
        pub.close()
