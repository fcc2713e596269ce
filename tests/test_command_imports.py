"""Each command imports only what it needs: the batch commands load neither plotting, nor the MQTT
stack, nor Bluetooth; `sitload --help` loads no numerical library at all. Checked on the real
command in a fresh interpreter, by what is in sys.modules when it has finished."""

import json
import subprocess
import sys

import pytest

NOT_FOR_BATCH = ("matplotlib", "paho", "amqtt", "bumble", "bleak")
RUN = """
import contextlib, io, json, sys
from sitload.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:    # --help
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded(*args: str, packages: bool = True) -> set[str]:
    """Top-level packages (else every module) loaded by `sitload ARGS`, which must succeed."""
    out = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                         check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["code"] == 0, out.stderr
    modules = set(found["modules"])
    return {m.split(".")[0] for m in modules} if packages else modules


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("imports") / "hip.sitload"
    subprocess.run([sys.executable, "-m", "sitload.cli", "simulate", "flare-day", "--sensor",
                    "hip-imu", "--hours", "1", "-o", str(path)], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "sitload.cli", "diary", "add", str(path), "--pain",
                    "6", "--side", "left", "--at", "2026-03-02T10:30"], check=True,
                   capture_output=True)
    return str(path)


@pytest.mark.parametrize("command", [["analyze", "--json"], ["score"], ["replay", "--json"],
                                     ["flares", "--json"]])
def test_batch_commands_load_no_plotting_mqtt_or_bluetooth(recording, command):
    modules = loaded(command[0], recording, *command[1:])
    assert "numpy" in modules    # the check sees what the command loaded
    assert modules.isdisjoint(NOT_FOR_BATCH), modules & set(NOT_FOR_BATCH)


@pytest.mark.parametrize("command", [["report", "-o", "{out}"], ["flares", "--json"]])
def test_commands_that_read_recordings_load_no_live_pipeline(recording, command, tmp_path):
    """The live pipeline's message schemas (jsonschema with its dependencies) are for messages
    that leave the process; a report or flare analysis sends none."""
    modules = loaded(command[0], recording, *(a.format(out=tmp_path) for a in command[1:]))
    assert "numpy" in modules and "jsonschema" not in modules


def test_flares_loads_no_table_library_or_scipy(recording):
    """The diary is read as rows and the intervals computed in numpy: importing pandas and
    scipy.stats took longer than the statistics."""
    modules = loaded("flares", recording, "--json")
    assert "numpy" in modules
    heavy = {"pandas", "pyarrow", "scipy"}
    assert modules.isdisjoint(heavy), modules & heavy


def test_help_loads_no_numerical_library():
    modules = loaded("--help")
    assert modules.isdisjoint({"numpy", "pandas", "scipy", *NOT_FOR_BATCH})



@pytest.mark.parametrize("sensor", ["hip-imu", "thigh-imu", "pressure"])
def test_analyze_json_loads_no_table_library_scipy_or_event_loop(tmp_path, sensor):
    """The summary needs numpy alone: pandas (with pyarrow), scipy and asyncio (with ssl) are
    most of a short command's start-up."""
    path = str(tmp_path / f"{sensor}.sitload")
    subprocess.run([sys.executable, "-m", "sitload.cli", "simulate", "desk-day", "--sensor",
                    sensor, "--hours", "1", "-o", path], check=True, capture_output=True)
    modules = loaded("analyze", path, "--json")
    assert "numpy" in modules
    heavy = {"pandas", "pyarrow", "scipy", "asyncio", "ssl"}
    assert modules.isdisjoint(heavy), modules & heavy


def test_analyze_loads_no_alert_policy_flare_statistics_or_zone_database(recording):
    """The configuration file's sections are read from their settings modules alone, and a zone
    is looked up only when one is given."""
    modules = loaded("analyze", recording, "--json", packages=False)
    assert "sitload.analytics.engine" in modules and "sitload.config_file" in modules
    unused = {"sitload.alerts.policy", "sitload.analytics.flares", "sitload.alerts.broker",
              "zoneinfo", "tomllib"}
    assert modules.isdisjoint(unused), modules & unused


def test_analyze_starts_decoding_before_the_classifier_loads(recording):
    """The decoding process needs numpy, the decoders and the first stage of the analysis
    (analytics.seconds) alone: it is forked before the rest of the analysis loads, which this
    process then loads while the frames are decoded."""
    script = """
import json, sys
from sitload.services import read_ahead
start = read_ahead.FeaturesAhead.__init__
seen = []
def init(self, *args):
    seen.append(sorted(m for m in sys.modules if m.startswith("sitload.")))
    start(self, *args)
read_ahead.FeaturesAhead.__init__ = init
from sitload.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "at_fork": seen, "after": "sitload.analytics.engine" in sys.modules}))
"""
    out = subprocess.run([sys.executable, "-c", script, "analyze", recording, "--json"],
                         capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["code"] == 0 and found["after"]
    [at_fork] = found["at_fork"]
    assert {"sitload.analytics.seconds", "sitload.sensor_ingest.replay"} <= set(at_fork)
    rest = {"sitload.analytics.engine", "sitload.analytics.posture", "sitload.analytics.bouts",
            "sitload.analytics.records", "sitload.events"}
    assert rest.isdisjoint(at_fork), rest & set(at_fork)


def test_the_analytics_names_load_their_modules_when_asked_for():
    script = """
import json, sys
import sitload.analytics as analytics
before = "sitload.analytics.engine" in sys.modules
names = {name: getattr(analytics, name).__module__ for name in analytics.__all__}
try:
    analytics.nothing_here
except AttributeError as exc:
    missing = str(exc)
print(json.dumps({"before": before, "names": names, "missing": missing}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    found = json.loads(out.stdout)
    assert found["before"] is False
    assert found["names"] == {
        "AccumulationMetrics": "sitload.analytics.accumulation",
        "accumulation_metrics": "sitload.analytics.accumulation",
        "AnalysisConfig": "sitload.analytics.config", "Engine": "sitload.analytics.engine",
        "analyze": "sitload.analytics.engine", "AnalysisResult": "sitload.analytics.records"}
    assert "nothing_here" in found["missing"]
