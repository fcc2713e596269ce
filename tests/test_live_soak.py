"""Soak of the live path (slow; SITLOAD_SLOW=1, about 2 min): 7 simulated desk days as fast as
the machine goes through LiveSessions, a real Mosquitto and a prompter (benchmarks/live_memory.py).
Resident memory after day 7 stays within 10 % of after day 1, and no prompt is lost."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("SITLOAD_SLOW"), reason="slow soak run: set SITLOAD_SLOW=1")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "live_memory.py"


def test_a_week_of_live_monitoring_keeps_its_memory_and_every_prompt():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--days", "7"], capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr
    days = [float(x) for x in re.findall(r"^day \d+: RSS ([\d.]+) MiB$", proc.stdout, re.M)]
    assert len(days) == 7
    assert days[-1] <= 1.10 * days[0], proc.stdout
    raised, taken, shown, lost = map(int, re.search(
        r"prompts: (\d+) raised, (\d+) taken by the broker, (\d+) shown; lost (-?\d+)", proc.stdout).groups())
    assert raised >= 7 and taken == shown == raised and lost == 0, proc.stdout
