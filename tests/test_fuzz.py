"""Fuzzing of every entry point that reads what someone else wrote: frames from a sensor, CSV
files, MQTT messages from the patient's side, configuration files, command lines and recordings.

The property everywhere: a result, or sitload's own error (one line, exit 1 or 2), never another
exception. The inputs are generated here (hypothesis, seeded from valid examples and mutated);
``SITLOAD_SLOW=1`` runs ten times as many cases (and 1,000 damaged recordings).
"""

import json
import math
import os
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitload.alerts.messages import AckMessage, SymptomReport
from sitload.alerts.schemas import decode_inbound
from sitload.cli import build_parser, main
from sitload.config_file import SECTIONS, load
from sitload.errors import ConfigError, MessageError, SitloadError
from sitload.firmware_sim.frame_encoder import encode_imu_frames
from sitload.sensor_ingest.devices.witmotion import WitMotionDecoder
from sitload.sensor_ingest.stream_decoder import DeviceDecoder
from sitload.services.importers import import_csv
from sitload.vocab import SensorKind

CASES = 50 * (10 if os.environ.get("SITLOAD_SLOW") == "1" else 1)
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
T0 = 1_772_438_400.0


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """``data`` with each (kind, place, value) edit applied: overwrite, insert or delete a byte."""
    out = bytearray(data)
    for kind, place, value in edits:
        if not out:
            out.append(value)
            continue
        i = place % len(out)
        if kind == 0:
            out[i] = value
        elif kind == 1:
            out.insert(i, value)
        else:
            del out[i]
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**31), st.integers(0, 255)),
                 min_size=1, max_size=4)


# -- frames from a sensor ------------------------------------------------------------------------
def _stream(n: int = 40) -> list[bytes]:
    accel = np.tile([0.0, 0.0, 1.0], (n, 10, 1))
    ticks = np.round(np.arange(n) * 6553.6).astype(np.int64)
    gyro = np.zeros((n, 10, 3))
    return encode_imu_frames(1, np.arange(n), ticks, 0, accel, gyro, 500)


@FUZZ
@given(picks=st.lists(st.tuples(st.integers(0, 39), st.one_of(st.none(), EDITS)), max_size=60),
       steps=st.lists(st.floats(0.0, 5e4), min_size=60, max_size=60))
def test_any_frame_stream_decodes_to_batches_and_counts(picks, steps):
    """Frames dropped, repeated, reordered and damaged, received at any later time: every frame
    is taken or counted as rejected, and the samples are finite and never step back in time."""
    frames = _stream()
    fed = [frames[i] if edits is None else _mutate(frames[i], edits) for i, edits in picks]
    times = T0 + np.cumsum(steps[:len(fed)])
    decoder = DeviceDecoder()
    batches = decoder.feed_many(fed, times)
    stats = decoder.stats
    assert stats.frames_ok + stats.frames_bad + stats.duplicates == len(fed)
    assert sum(len(b) for b in batches) == stats.samples
    for batch in batches:
        assert np.isfinite(batch.t).all() and np.isfinite(batch.accel).all()
    times = np.concatenate([b.t for b in batches]) if batches else np.zeros(0)
    assert (np.diff(times) >= 0).all()     # never a step back, whatever the receive times


# -- CSV files -----------------------------------------------------------------------------------
def _csv() -> bytes:
    t = T0 + np.arange(0, 6, 0.04)
    rows = [f"{v:.3f},{0.02 * math.sin(v):.4f},-0.0100,0.9990" for v in t]
    return ("time,ax,ay,az\n" + "\n".join(rows) + "\n").encode()


@settings(FUZZ, max_examples=1000 if os.environ.get("SITLOAD_SLOW") == "1" else CASES)
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**31),
                                st.sampled_from(b"0123456789.,-+eE:TZ \t\n\r\"';x\x00\xff")),
                      min_size=1, max_size=6))
def test_a_mutated_csv_imports_or_is_refused_naming_the_file(tmp_path_factory, edits):
    folder = tmp_path_factory.mktemp("csv")
    source = folder / "in.csv"
    source.write_bytes(_mutate(_csv(), edits))
    try:
        summary = import_csv(source, folder / "out.sitload")
    except SitloadError as exc:
        assert str(source) in str(exc) and "\n" not in str(exc)
    else:
        assert summary.samples_read >= 2 and summary.frames > 0


# -- MQTT messages from the patient's side -------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=30)
    | st.sampled_from(["2026-03-02T08:00:00Z", "9999-12-31T23:59:59Z", "1969-01-01T00:00:00Z",
                       "snooze", "done", "ack", "left", "buttock"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
FIELDS = ["schema", "id", "action", "minutes", "time", "pain", "location", "side", "tingling",
          "note", "online"]


@FUZZ
@given(topic=st.sampled_from(["ack", "symptom", "prompter"]),
       doc=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8),
       schema=st.sampled_from([1, None]), raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_an_inbound_message_is_a_record_or_rejected_with_a_reason(topic, doc, schema, raw):
    if schema is not None:
        doc = {**doc, "schema": schema}
    payload = raw if raw is not None else json.dumps(doc, allow_nan=True).encode()
    try:
        checked = decode_inbound(topic, payload)
    except MessageError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    if topic == "ack":
        AckMessage.from_json(checked)
    elif topic == "symptom":
        report = SymptomReport.from_json(checked)
        assert 0 <= report.pain <= 10 and math.isfinite(report.time)


# -- configuration files -------------------------------------------------------------------------
def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


KEYS = sorted({f.name for cls in SECTIONS.values() for f in cls.__dataclass_fields__.values()}
              | {"prolonged", "bogus"})
TOML_VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(), st.booleans(),
                        st.text(string.printable, max_size=12),
                        st.lists(st.integers(-5000, 5000) | st.floats(), max_size=4))


@FUZZ
@given(tables=st.dictionaries(st.sampled_from([*SECTIONS, "extra"]),
                              st.dictionaries(st.sampled_from(KEYS), TOML_VALUES, max_size=4),
                              max_size=3),
       junk=st.one_of(st.none(), st.text(max_size=20)))
def test_a_configuration_file_loads_or_is_one_line_naming_the_file(tmp_path_factory, tables, junk):
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
                   for name, table in tables.items()) + (junk or "")
    path = tmp_path_factory.mktemp("cfg") / "sitload.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load(path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


# -- command lines -------------------------------------------------------------------------------
TOKENS = ["analyze", "score", "replay", "report", "flares", "diary", "add", "list", "import",
          "simulate", "prompts", "--json", "--speed", "--hours", "--days", "--seed", "--pain",
          "--side", "--at", "--tz", "--broker", "--labels", "--epochs", "-o", "--config",
          "--drop-rate", "--sensor", "nan", "-1", "0", "1e9", "11", "left", "Mars/Olympus",
          "mqtt://[::1", "mqtt://h:99999", "desk-day", "thigh-imu", "9999-12-31", "\x1b[2J", ""]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "empty.sitload").write_bytes(b"")
    (folder / "text.sitload").write_text("time,ax,ay,az\n")
    return [str(folder / "empty.sitload"), str(folder / "text.sitload"), str(folder / "missing"),
            str(folder)]


@FUZZ
@given(argv=st.lists(st.sampled_from(TOKENS) | st.sampled_from(range(4)), min_size=1,
                     max_size=7))
def test_a_command_line_runs_or_exits_1_or_2_with_one_line(files, argv, capsys):
    """Commands over files that are not recordings (no simulation or broker work is started:
    the tokens hold no valid output for simulate and no reachable broker)."""
    argv = [files[a] if isinstance(a, int) else a for a in argv]
    if argv[0] in ("simulate", "prompts", "import"):    # would run long or wait on a network
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2)
        return
    try:
        code = main(argv)
    except SystemExit as exc:      # argparse: usage errors and --help
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err
    if code == 1:
        assert err.count("\n") == 1 and err.startswith("sitload: "), (argv, err)


# -- WitMotion packets ---------------------------------------------------------------------------
@FUZZ
@given(picks=st.lists(st.tuples(st.integers(0, 3), st.one_of(st.none(), EDITS)), max_size=80),
       steps=st.lists(st.floats(0.0, 5.0), min_size=80, max_size=80))
def test_any_witmotion_notification_stream_decodes_to_ordered_samples_or_counted_rejections(
        picks, steps):
    """Data packets, register replies and several packets a notification, damaged and received at
    any later time: each packet is a sample, a reply or a counted rejection; samples are finite
    and strictly in time order across batches."""
    data = bytes((0x55, 0x61)) + np.array([0, 0, 2048, 0, 0, 0, 0, 0, 0], "<i2").tobytes()
    reply = bytes((0x55, 0x71, 0x64, 0x00)) + np.array([390] + [0] * 7, "<i2").tobytes()
    kinds = [data, reply, data + data, data + reply]
    fed = [kinds[i] if edits is None else _mutate(kinds[i], edits) for i, edits in picks]
    decoder = WitMotionDecoder(SensorKind.HIP_IMU)
    batches = decoder.feed_many(fed, T0 + np.cumsum(steps[:len(fed)]))
    assert sum(len(b) for b in batches) == decoder.stats.samples == decoder.stats.frames_ok
    t = np.concatenate([b.t for b in batches]) if batches else np.empty(0)
    assert np.isfinite(t).all() and (np.diff(t) > 0).all()
    for batch in batches:
        assert np.isfinite(batch.accel).all() and np.isfinite(batch.gyro).all()


# -- recordings ----------------------------------------------------------------------------------
MUTATIONS = 1000 if os.environ.get("SITLOAD_SLOW") == "1" else 40


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from sitload.services.simulation import simulate_to_recording

    path = tmp_path_factory.mktemp("rec") / "day.sitload"
    simulate_to_recording(path, scenario="desk-day", sensor="thigh-imu", seed=3, hours=0.3)
    return path.read_bytes()


def _analyze(path, capsys) -> tuple[int, dict | None, str]:
    code = main(["analyze", str(path), "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_single_byte_damage_to_a_recording_is_said_or_changes_nothing(recording, tmp_path, capsys):
    """Any byte of the file set to any value: the analysis is the same, or it comes with a note
    that data was damaged, or it is one error line (exit 1); never a traceback."""
    path = tmp_path / "m.sitload"
    path.write_bytes(recording)
    code, whole, err = _analyze(path, capsys)
    assert code == 0 and not err and whole["bouts"]
    rng = np.random.default_rng(7)
    outcomes = {"same": 0, "said": 0, "error": 0}
    for place, value in zip(rng.integers(0, len(recording), MUTATIONS),
                            rng.integers(0, 256, MUTATIONS)):
        data = bytearray(recording)
        data[place] = value
        path.write_bytes(bytes(data))
        code, result, err = _analyze(path, capsys)
        if code == 1:
            assert err.count("\n") == 1 and err.startswith("sitload: error: "), (place, err)
            outcomes["error"] += 1
        elif result == whole:
            outcomes["same"] += 1
        else:
            assert code == 0 and "damaged" in err, (place, value, err)
            outcomes["said"] += 1
    assert outcomes["said"] > MUTATIONS / 2, outcomes     # most bytes are frames: their CRC tells
