"""The worked examples in the docs run as written (against a fresh simulated recording)."""

import re
from pathlib import Path

from sitload.services.simulation import simulate_to_recording

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)\n```", (DOCS / doc).read_text(encoding="utf-8"), re.S)


def test_recording_format_example_replays_a_recording_into_the_engine(tmp_path, monkeypatch,
                                                                       capsys):
    simulate_to_recording(tmp_path / "day.sitload", scenario="desk-day", sensor="thigh-imu",
                          seed=3, hours=0.5)
    monkeypatch.chdir(tmp_path)
    (example,) = python_blocks("recording-format.md")
    exec(compile(example, "docs/recording-format.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("bout_start ") for line in printed)
    assert 0 < float(printed[-1]) <= 1800
