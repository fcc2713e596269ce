"""`sitload scan` and `sitload monitor` from the command line (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitload.firmware_sim import SimulatedSensor
from sitload.sensor_ingest.recording import Recording
from sitload.cli import main


def test_scan_lists_simulated_sensors_with_rssi_and_battery(capsys):
    assert main(["scan", "--simulate", "3", "--timeout", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["address", "kind", "name", "rssi", "battery"]
    sims = [SimulatedSensor("desk-day", s) for s in ("thigh-imu", "hip-imu", "pressure")]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert sorted(rows) == sorted(s.address for s in sims)
    for sim in sims:
        kind, name, rssi, battery = rows[sim.address]
        assert (kind, name) == ("sitload", sim.name)
        assert -90 < int(rssi) < -40 and battery == "100%"


def test_scan_lists_simulated_witmotion_sensors_with_the_battery_read_from_its_register(capsys):
    assert main(["scan", "--simulate", "2", "--device", "witmotion"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    sims = [SimulatedSensor("desk-day", s) for s in ("hip-imu", "thigh-imu")]
    assert sorted(rows) == sorted(s.address for s in sims)
    for sim in sims:
        kind, name, _rssi, battery = rows[sim.address]
        assert (kind, name, battery) == ("witmotion", f"WT901BLE{sim.serial[-2:]}", "100%")


@pytest.mark.parametrize("argv, message", [
    (["--address", "C0:11:22:33:44:55", "--device", "witmotion"],
     "--device witmotion needs --sensor hip-imu or thigh-imu"),
    (["--address", "C0:11:22:33:44:55", "--sensor", "hip-imu"], "--sensor only apply with"),
    (["--simulate", "desk-day", "--rate", "50"], "--rate only applies with --device witmotion"),
    (["--simulate", "desk-day", "--device", "witmotion", "--rate", "30"],
     "streams at 10, 20, 50, 100, 200 Hz, not 30"),
    (["--simulate", "desk-day", "--device", "witmotion", "--sensor", "pressure"],
     "a WitMotion sensor is an IMU"),
])
def test_monitor_refuses_witmotion_options_that_do_not_fit(argv, message, capsys):
    code = main(["monitor", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2) and len(err) == 1 and message in err[0]


def test_witmotion_monitor_replays_and_analyses_to_the_bouts_of_the_same_body(tmp_path, capsys):
    live, direct = tmp_path / "witmotion.sitload", tmp_path / "direct.sitload"
    assert main(["monitor", "--simulate", "desk-day", "--device", "witmotion", "--sensor",
                 "hip-imu", "--seed", "1", "--speed", "1200", "--minutes", "30",
                 "--record", str(live)]) == 0
    out = capsys.readouterr().out
    assert "0 bad, 0 gaps" in out and "1 connections" in out
    assert main(["simulate", "desk-day", "--sensor", "hip-imu", "--seed", "1", "--hours", "0.5",
                 "-o", str(direct)]) == 0
    capsys.readouterr()
    results = []
    for argv in (["replay", str(live), "--json"], ["analyze", str(live), "--json"],
                 ["analyze", str(direct), "--json"]):
        assert main(argv) == 0
        results.append(json.loads(capsys.readouterr().out))
    replayed, analysed, protocol_v1 = [r["bouts"] for r in results]
    assert replayed == analysed and len(replayed) == 2
    assert [(b["start"], b["duration_s"]) for b in replayed] == \
        [(b["start"], b["duration_s"]) for b in protocol_v1]


@pytest.mark.skipif(Path("/run/dbus/system_bus_socket").exists(),
                    reason="this machine has a BlueZ system bus; scanning hardware may work")
def test_scan_without_a_radio_fails_with_one_line(capsys):
    assert main(["scan", "--timeout", "0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sitload: error: no usable Bluetooth adapter")


def test_monitor_options_for_simulation_only_are_refused_with_an_address(capsys):
    assert main(["monitor", "--address", "C0:11:22:33:44:55", "--speed", "10"]) == 1
    assert "--speed only apply with --simulate" in capsys.readouterr().err


def test_monitor_simulate_records_what_simulate_records(tmp_path, capsys):
    live, direct = tmp_path / "live.sitload", tmp_path / "direct.sitload"
    assert main(["monitor", "--simulate", "desk-day", "--sensor", "thigh-imu", "--seed", "1",
                 "--minutes", "30", "--speed", "1200", "--record", str(live)]) == 0
    out = capsys.readouterr().out
    assert "9000 frames, 0 bad, 0 gaps" in out and f"recording: {live}" in out
    assert main(["simulate", "desk-day", "--sensor", "thigh-imu", "--seed", "1", "--hours", "0.5",
                 "-o", str(direct)]) == 0
    with Recording(live) as a, Recording(direct) as b:
        assert a.meta["source"] == "ble" and a.meta["scenario"] == "desk-day"
        frames_a = [f for _, _, fs in a.iter_frames(a.device().id) for f in fs]
        frames_b = [f for _, _, fs in b.iter_frames(b.device().id) for f in fs]
        assert frames_a == frames_b
    capsys.readouterr()
    results = []
    for path in (live, direct):
        assert main(["replay", str(path), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    bouts = [[(b["start"], round(b["duration_s"])) for b in r["bouts"]] for r in results]
    assert bouts[0] == bouts[1] and bouts[0]
