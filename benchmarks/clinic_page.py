"""How fast the clinic page follows a state change with N patients on one Mosquitto, in headless
Chromium, against a baseline measured in the same run: the same change received on the page's
event stream by a plain HTTP client.

    .venv/bin/python benchmarks/clinic_page.py [--patients 1000] [--changes 30]

A Mosquitto on loopback holds N patients' retained status, availability and state (as their
gateways publish them); `sitload clinic --http 0` runs on it as a process, and Chromium shows its
page. Each change is one gateway's new `state` (a sitting bout of a minute count no other patient
has); its latency runs from just before the publish to:
- the page: the moment the row's "bout" cell in the DOM shows it (a MutationObserver's clock);
- the stream (baseline): the moment a plain HTTP client reading `/api/events` has the row.
The first load (page opened to every patient's state shown) is reported too.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from sitload.alerts.messages import state_payload
from sitload.events import EngineState
from sitload.vocab import Posture, Side

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser import LivePage, require_chromium  # noqa: E402  (the test suite's browser driver)
from conftest import MosquittoBroker, require_mosquitto, wait_until  # noqa: E402
from test_clinic_page import Gateways, patient_documents  # noqa: E402  (the page test's patients)

WATCH_BOUTS = """
window.__bouts = [];
new MutationObserver((changes) => {
  const now = Date.now() / 1000;
  for (const change of changes) {
    const td = change.target;
    if (td.dataset && td.dataset.field === 'bout')
      window.__bouts.push([td.parentElement.dataset.device, td.textContent, now]);
  }
}).observe(document.getElementById('patients'), {childList: true, subtree: true});
"""


class EventReader:
    """A plain HTTP client on /api/events: when each (device, bout_minutes) was first seen."""

    def __init__(self, url: str) -> None:
        self.seen: dict[tuple[str, float], float] = {}
        self._stream = urllib.request.urlopen(url + "api/events", timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:
            if line.startswith(b"data: "):
                now = time.time()
                for row in json.loads(line[6:])["patients"]:
                    self.seen.setdefault((row["device"], row["bout_minutes"]), now)


def minutes_text(m: int) -> str:
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def run(patients: int, changes: int, seed: int = 1) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="sitload-clinic-bench-"))
    broker = MosquittoBroker(require_mosquitto(), tmp)
    broker.start()
    gateways = Gateways(broker)
    clinic = page = None
    try:
        gateways.publish([doc for i in range(patients) for doc in patient_documents(i, time.time())])
        clinic = subprocess.Popen([sys.executable, "-m", "sitload.cli", "clinic", "--broker", broker.url, "--http",
                                   "0"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = clinic.stderr.readline().split(": ", 1)[1].strip()
        page = LivePage(require_chromium(), tmp / "profile")
        opened = time.monotonic()
        page.open(url)
        expected = sum(1 for i in range(patients) if i % 3 != 0 and i % 10 != 0)  # as patient_documents
        wait_until(lambda: page.evaluate("document.getElementById('sitting').textContent") == f"{expected} sitting",
                   timeout=120, what="every patient shown")
        load_s = time.monotonic() - opened
        page.evaluate(WATCH_BOUTS)
        stream = EventReader(url)
        rng = random.Random(seed)
        sent: list[tuple[str, int, float]] = []
        for k in range(changes):
            device, minutes = f"pt-{rng.randrange(patients):04d}", 200 + k  # no patient starts above 96
            now = time.time()
            state = EngineState(now, Posture.SITTING, now - 60 * minutes, float(minutes), None, Side.NONE, None)
            t0 = time.time()
            gateways.publish([(f"sitload/v1/{device}/state", state_payload(state, now, 300.0))])
            sent.append((device, minutes, t0))
            time.sleep(0.5)
        wait_until(lambda: len(page.evaluate("window.__bouts")) >= changes and len(stream.seen) >= changes,
                   timeout=30, what="every change shown")
        shown = {(d, text): t for d, text, t in page.evaluate("window.__bouts")}
        page_s = [shown[(d, minutes_text(m))] - t0 for d, m, t0 in sent]
        stream_s = [stream.seen[(d, float(m))] - t0 for d, m, t0 in sent]
        return {"patients": patients, "changes": changes, "load_s": load_s, "page": page_s, "stream": stream_s}
    finally:
        if page is not None:
            page.close()
        if clinic is not None:
            clinic.terminate()
            clinic.wait(timeout=10)
        gateways.close()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000])
    parser.add_argument("--changes", type=int, default=30)
    args = parser.parse_args()
    print("| patients | first load | page p50 / p99 / max | event stream p50 / p99 / max (baseline) | page / stream (p50) |")
    print("|---|---|---|---|---|")
    for n in args.patients:
        r = run(n, args.changes)
        page, stream = np.array(r["page"]), np.array(r["stream"])
        fmt = lambda a: " / ".join(f"{v * 1000:.0f} ms" for v in (np.median(a), np.percentile(a, 99), a.max()))  # noqa: E731
        print(f"| {n} | {r['load_s']:.1f} s | {fmt(page)} | {fmt(stream)} | {np.median(page) / np.median(stream):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
