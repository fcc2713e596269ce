"""Run the firmware simulator into a recording: the same bytes a real sensor would send."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sitload.firmware_sim import Faults, SimulatedSensor
from sitload.firmware_sim.symptoms import SYMPTOM_MODELS, simulated_diary
from sitload.sensor_ingest.recording import RecordingWriter
from sitload.vocab import SensorKind

DEFAULT_START_UTC = 1772438400.0  # 2026-03-02T08:00:00Z, a Monday


def simulate_to_recording(path: str | Path, *, scenario: str, sensor: str, seed: int,
                          hours: float | None = None, days: int = 1,
                          start_utc: float = DEFAULT_START_UTC, faults: Faults | None = None,
                          mount_rotation_deg: float | None = None, timezone: str = "UTC",
                          progress: Callable[[float], None] | None = None) -> Path:
    """Simulate ``scenario`` and write every frame, battery level, link event and the ground truth
    to a new recording at ``path`` (exactly that path), with the simulated pain diary of a scenario
    that has one (firmware_sim/symptoms.py). ``progress`` gets the fraction done."""
    sim = SimulatedSensor(scenario=scenario, sensor=sensor, seed=seed, start_utc=start_utc,
                          hours=hours, days=days, faults=faults or Faults(),
                          mount_rotation_deg=mount_rotation_deg)
    meta = {"source": "simulated", "scenario": scenario, "seed": str(seed),
            "sensor": sensor, "timezone": timezone}
    with RecordingWriter(path, meta=meta) as rec:
        device = rec.add_device(sim.address, SensorKind.from_cli(sensor), name=sim.name,
                                info=sim.device_info, config=sim.config_record,
                                calibration=sim.calibration_record or None)
        total_s, done_s = sim.wear_s, 0
        body: list[pd.DataFrame] = []
        for chunk in sim.chunks():
            rec.add_frames(device, chunk.frames, chunk.host_times)
            rec.add_truth(device, chunk.truth)
            for t, percent in chunk.battery:
                rec.add_battery(device, t, percent)
            for t, event in chunk.link_events:
                rec.add_link_event(device, t, event)
            if scenario in SYMPTOM_MODELS:
                body.append(chunk.truth[["t", "posture", "lean_side"]])
            rec.commit()
            done_s += len(chunk.truth)
            if progress is not None:
                progress(min(1.0, done_s / total_s))
        if body:
            for e in simulated_diary(scenario, seed, pd.concat(body, ignore_index=True)):
                rec.add_diary(e.t, e.pain, location=e.location, side=e.side,
                              tingling=e.tingling, note=e.note, source="simulated")
    return Path(path)
