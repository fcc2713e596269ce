"""The live path at fleet size: N patient gateways publishing to one Mosquitto on loopback, the
patients' prompters and the clinic view subscribed; prompt latency, clinic latency, losses, CPU and
memory of the broker and of the clients, for each N asked.

    .venv/bin/python benchmarks/fleet.py [--patients 100 1000 2000] [--seconds 60] [--prompt-every 60]

Traffic. One simulated desk day (thigh IMU) is run once through the real decoder, engine and
prompt policy (`SessionPipeline`; the policy tuned to prompt often, as in alert_latency.py, to
have prompts of every kind), fed as a gateway feeds it (a decode every 0.25 s of data); that
run gives the pipeline's CPU per patient-second of data (printed: it says how many real pipelines
a core holds) and the engine states and prompts every simulated patient replays. Each patient is
one real `AlertPublisher` (SQLite outbox, MQTT v5, QoS 1, waiting for its prompter) publishing
the retained `state` every 5 s (the pipeline's step, `STEP_S`) and a prompt every
``--prompt-every`` seconds (real policy: at most 3 an hour, so the default 60 s is 20 x that),
each patient at its own phase; and one real `Prompter` receiving them. Gateways run
``--per-gateway`` patients per process, prompters ``--per-prompter`` per process (paho's select()
loop takes descriptors below 1024: at most 160 and 320), each process started once the one
before has connected all its clients. Every client takes 3 loopback ports (its connection and
paho's wake-up socket pair), which bounds N on one machine (about 4,700 with 28,232 ports).

Measured, over the ``--seconds`` window:
- prompt latency: the wall time the prompt was raised (just before `publish_prompt`: outbox write,
  MQTT, broker) to the prompter's `on_prompt` (validated, deduped), p50/p99/max;
- lost: prompts raised whose id their prompter had not received 30 s after the window (QoS 1:
  must be 0);
- clinic latency: a `state` whose (device, bout_minutes) is new, published -> that row on the
  `/api/events` stream of a `sitload clinic --http 0` process (when the command exists; else a
  `mosquitto_sub` on the same topics stands in for its subscriptions and it is not measured);
- CPU (percent of one core over the window) and peak RSS of the broker and of each kind of client
  process, read from /proc; the broker's RSS with no client and with all connected;
- baseline, same run: bare paho QoS 1 messages of the prompt's size through the same broker to a
  `mosquitto_sub` (alert_latency.py), with the broker idle and again inside the window.
The ramp stops at the first N whose p99 reaches ``--max-p99`` s or that loses a prompt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pickle
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sitload.alerts.broker import BrokerOptions
from sitload.alerts.policy import PromptStatus, prompt_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_latency import DENSE, baseline_latencies  # noqa: E402  prompting often; bare paho QoS 1
from conftest import MosquittoBroker, require_mosquitto, wait_until  # noqa: E402  (tests/, via alert_latency)

HERE = Path(__file__).resolve()
STATE_EVERY_S = 5.0  # sitload.services.pipeline.STEP_S: the state is published at every step
FEED_EVERY_S = 0.25  # sensor_ingest.ble_ingest.FLUSH_S: a gateway decodes and feeds this often
# paho's network loop uses select(): a client's descriptors must be < 1024. A prompter holds 3 (its
# socket and paho's wake-up pair), a publisher 6 (and its SQLite outbox, -wal and -shm files)
MAX_PER_PROCESS = {"gateway": 160, "prompter": 320}
CONNECT_BATCH = 50  # clients started at once, then a pause: no SYN flood on the listener
LATE_S = 30.0  # a prompt not at its prompter this long after the window's end counts as lost
V5 = BrokerOptions(protocol="5")  # Mosquitto speaks v5: the clients skip the 3-s probe of "auto"
BROKER_SETTINGS = ("allow_anonymous true\nmax_connections -1\n"
                   "max_packet_size 16384\nmax_queued_messages 200")  # deploy/mosquitto/sitload.conf's limits


def raise_open_files() -> None:
    """Soft limit of open files up to the hard limit (a socket per client, the broker's too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def device_name(i: int) -> str:
    return f"fleet-{i:06d}"


# ---- traffic: one real pipeline run -------------------------------------------------------------

@dataclass
class Traffic:
    """What the real pipeline published for one simulated patient, and what it cost."""

    states: list  # EngineState at every step
    prompts: list  # Prompt
    data_s: float
    cpu_s: float


def pipeline_traffic(hours: float) -> Traffic:
    """Run ``hours`` of a simulated desk day through decoder -> SessionPipeline as a gateway does."""
    from sitload.firmware_sim import SimulatedSensor
    from sitload.sensor_ingest.stream_decoder import DeviceDecoder
    from sitload.services.live import KEEP_S
    from sitload.services.pipeline import SessionPipeline
    from sitload.vocab import SensorKind

    sim = SimulatedSensor("desk-day", "thigh-imu", seed=1, hours=hours)
    states, prompts = [], []
    pipeline = SessionPipeline(SensorKind.from_cli("thigh-imu"), sim.name, policy_config=DENSE,
                               on_state=lambda state, _: states.append(state), on_prompt=prompts.append,
                               keep_s=KEEP_S)
    decoder = DeviceDecoder()
    cpu = 0.0
    for chunk in sim.chunks():
        times = np.asarray(chunk.host_times)
        cuts = np.flatnonzero(np.diff(np.floor(times / FEED_EVERY_S))) + 1
        started = time.process_time()
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(times)]):
            for batch in decoder.feed_many(chunk.frames[a:b], times[a:b]):
                pipeline.feed(batch)
        cpu += time.process_time() - started
    pipeline.finish()
    return Traffic(states, prompts, sim.wear_s, cpu)


# ---- child processes ----------------------------------------------------------------------------

def child_command(role: str, first: int, count: int, broker_url: str, workdir: Path, args) -> list[str]:
    return [sys.executable, str(HERE), "--role", role, "--first", str(first), "--count", str(count),
            "--broker", broker_url, "--workdir", str(workdir), "--seconds", str(args.seconds),
            "--prompt-every", str(args.prompt_every)]


def start_in_batches(make, count: int) -> list:
    """``make(i)`` for i in range(count), CONNECT_BATCH at a time with a pause between."""
    made = []
    for i in range(count):
        made.append(make(i))
        if (i + 1) % CONNECT_BATCH == 0:
            time.sleep(0.2)
    return made


def run_prompters(args) -> None:
    """Prompters for devices [first, first + count); report receipt times when told to stop."""
    from sitload.alerts.prompter import Prompter

    received: dict[str, float] = {}
    lock = threading.Lock()

    def got(doc: dict) -> None:
        at = time.time()
        with lock:
            received.setdefault(doc["id"], at)

    prompters = start_in_batches(lambda i: Prompter(args.broker, device_name(args.first + i), broker=V5,
                                                    on_prompt=got), args.count)
    wait_until(lambda: all(p.conn.connected for p in prompters), timeout=60, what="prompters connected")
    print("ready", flush=True)
    sent = json.loads(Path(sys.stdin.readline().split(" ", 1)[1].strip()).read_text())  # "stop SENT.json"
    mine = {pid for pid, (device, _) in sent.items() if args.first <= device < args.first + args.count}
    with contextlib.suppress(AssertionError):  # what is missing after LATE_S is lost
        wait_until(lambda: mine <= set(dict(received)), timeout=LATE_S)
    with lock:
        out = dict(received)
    Path(args.workdir, f"prompter-{args.first}.json").write_text(json.dumps(
        {"received": out, "rejected": sum(len(p.rejected) for p in prompters),
         "expired": sum(len(p.dropped_expired) for p in prompters)}))
    print("done", flush=True)
    for p in prompters:
        p.close()


def schedule(count: int, seconds: float, prompt_every: float, first: int) -> list[tuple[float, str, int, int]]:
    """(offset s, 'state'|'prompt', patient index, step) of every message, each patient at its own phase."""
    events = []
    for i in range(count):
        phase = ((first + i) * 0.6180339887) % 1.0  # spread evenly over the period
        for what, period in (("state", STATE_EVERY_S), ("prompt", prompt_every)):
            events += [((phase + k) * period, what, i, k) for k in range(math.ceil(seconds / period))]
    return sorted(e for e in events if e[0] < seconds)


def run_gateways(args) -> None:
    """AlertPublishers for devices [first, first + count) replaying the pipeline's traffic."""
    from sitload.alerts.publisher import AlertPublisher

    traffic: Traffic = pickle.loads(Path(args.workdir, "traffic.pickle").read_bytes())
    outboxes = Path(args.workdir, "outbox")
    outboxes.mkdir(exist_ok=True)
    publishers = start_in_batches(
        lambda i: AlertPublisher(args.broker, device_name(args.first + i), broker=V5,
                                 outbox_path=outboxes / f"{device_name(args.first + i)}.outbox"), args.count)
    wait_until(lambda: all(p.conn.connected and p.prompter_online for p in publishers), timeout=60,
               what="publishers connected, prompters online")
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    started = time.time()
    sent: dict[str, float] = {}
    states: list[tuple[str, float, float]] = []  # device, bout_minutes as published, when
    latest: dict[int, str] = {}  # each patient's newest prompt
    for offset, what, i, k in schedule(args.count, args.seconds, args.prompt_every, args.first):
        delay = started + offset - time.time()
        if delay > 0:
            time.sleep(delay)
        publisher, device = publishers[i], device_name(args.first + i)
        if what == "state":
            state = traffic.states[((args.first + i) * 37 + k) % len(traffic.states)]  # consecutive steps
            at = time.time()
            newest = latest.get(i)  # the state names the patient's newest prompt, as a gateway's does
            publisher.publish_state(state, None if newest is None else PromptStatus(newest, None, None))
            if state.bout_minutes is not None and state.posture.wire == "sitting":
                states.append((device, round(float(state.bout_minutes), 2), at))
        else:
            template = traffic.prompts[((args.first + i) + k) % len(traffic.prompts)]
            at = time.time()
            prompt = replace(template, id=prompt_id(device, template.kind, at), created=at, expires=at + 900.0,
                             follows=None)
            sent[prompt.id] = (args.first + i, at)
            latest[i] = prompt.id
            publisher.publish_prompt(prompt)
    late = time.time() - started - args.seconds
    for p in publishers:
        p.settle(10.0)
    pending = sum(len(p.outbox.pending()) for p in publishers)
    Path(args.workdir, f"gateway-{args.first}.json").write_text(json.dumps(
        {"sent": sent, "states": states, "pending": pending, "late_s": late}))
    print("done", flush=True)
    sys.stdin.readline()  # "stop"
    for p in publishers:
        p.close()


# ---- the parent: broker, clients, clinic, measurements ------------------------------------------

class Child:
    """A client process of this script; its stdout lines are read on a thread."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put("")  # ended

    def expect(self, word: str, timeout: float) -> None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = f"nothing for {timeout:g} s"
        if line != word:
            raise RuntimeError(f"client process {self.proc.pid}: expected {word!r}, got {line!r} "
                               f"(exit code {self.proc.poll()})")

    def tell(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def end(self) -> None:
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident set size of a process (/proc/PID/status VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Watch:
    """CPU over a window and peak RSS, sampled twice a second, of groups of processes."""

    groups: dict[str, list[int]]
    peak: dict[int, float] = field(default_factory=dict)
    _cpu0: dict[int, float] = field(default_factory=dict)
    _t0: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {pid: cpu_seconds(pid) for pids in self.groups.values() for pid in pids}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for pids in self.groups.values():
                for pid in pids:
                    self.peak[pid] = max(self.peak.get(pid, 0.0), rss_mib(pid))

    def stop(self) -> dict[str, tuple[float, float]]:
        """Per group: (CPU in percent of one core over the window, sum of the peak RSS in MiB)."""
        self._stop.set()
        wall = time.monotonic() - self._t0
        return {name: (100 * sum(cpu_seconds(p) - self._cpu0[p] for p in pids) / wall,
                       sum(self.peak.get(p, rss_mib(p)) for p in pids)) for name, pids in self.groups.items()}


def clinic_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("sitload.clinic_commands") is not None


class Clinic:
    """`sitload clinic --http 0` as the user runs it; notes when each (device, bout_minutes) row
    first arrives on its event stream. Without the command, a `mosquitto_sub` on the same topics
    takes the clinic's share of the broker's fan-out and nothing is timed."""

    TOPICS = ("status", "state", "availability", "alert", "ack")

    def __init__(self, broker: MosquittoBroker, measure: bool) -> None:
        self.seen: dict[tuple[str, float], float] = {}
        self.measured = measure
        if measure:
            exe = Path(sys.executable).with_name("sitload")
            self.proc = subprocess.Popen([str(exe), "clinic", "--broker", broker.url, "--http", "0"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            url = self._page_url()
            threading.Thread(target=self._stderr_drain, daemon=True).start()
            threading.Thread(target=self._read_events, args=(url + "api/events",), daemon=True).start()
        else:
            topics = [a for t in self.TOPICS for a in ("-t", f"sitload/v1/+/{t}")]
            self.proc = subprocess.Popen(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                                          *topics], stdout=subprocess.DEVNULL)

    def _page_url(self) -> str:
        for line in self.proc.stderr:
            if "clinic page:" in line:
                return line.split("clinic page:", 1)[1].strip().rstrip("/") + "/"
        raise RuntimeError(f"sitload clinic ended without serving its page (exit code {self.proc.wait()})")

    def _stderr_drain(self) -> None:
        for _ in self.proc.stderr:
            pass

    def _read_events(self, url: str) -> None:
        with urllib.request.urlopen(url) as stream:
            for raw in stream:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                at = time.time()
                for row in json.loads(line[5:])["patients"]:
                    if row.get("bout_minutes") is not None:
                        self.seen.setdefault((row["device"], round(float(row["bout_minutes"]), 2)), at)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class Row:
    patients: int
    prompts: int
    prompt_ms: tuple[float, float, float]  # p50, p99, max
    lost: int
    clinic_ms: tuple[float, float, float] | None
    clinic_missed: int
    cpu_rss: dict[str, tuple[float, float]]
    broker_mib: tuple[float, float]  # no client, all connected
    floor_ms: dict[str, tuple[float, float]]  # idle / loaded: p50, p99
    late_s: float
    load: str


def percentiles_ms(values) -> tuple[float, float, float]:
    a = np.asarray(values) * 1000
    return (float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())) if len(a) else (math.nan,) * 3


def prompt_size(traffic: Traffic) -> int:
    from sitload.alerts.messages import alert_payload

    return int(np.median([len(json.dumps(alert_payload(p), ensure_ascii=False).encode()) for p in traffic.prompts]))


def start_children(role: str, n: int, per: int, broker: MosquittoBroker, workdir: Path, args,
                   children: list[Child]) -> list[Child]:
    """The ``role`` processes for ``n`` patients, ``per`` each, one after another: each has
    connected all its clients before the next starts (no herd of connects from every process)."""
    started = []
    for first in range(0, n, per):
        child = Child(child_command(role, first, min(per, n - first), broker.url, workdir, args))
        children.append(child)
        started.append(child)
        child.expect("ready", timeout=120)
    return started


def run_fleet(n: int, traffic: Traffic, args, workdir: Path) -> Row:
    """One fleet of ``n`` patients on a fresh broker; the measured row."""
    for old in workdir.glob("*.json"):
        old.unlink()
    shutil.rmtree(workdir / "outbox", ignore_errors=True)
    broker = MosquittoBroker(require_mosquitto(), workdir, settings=BROKER_SETTINGS)
    broker.start()
    children: list[Child] = []
    clinic = None
    try:
        empty_mib = rss_mib(broker.proc.pid)
        size = prompt_size(traffic)
        idle = baseline_latencies(broker, size)
        clinic = Clinic(broker, args.clinic)
        prompters = start_children("prompter", n, args.per_prompter, broker, workdir, args, children)
        gateways = start_children("gateway", n, args.per_gateway, broker, workdir, args, children)
        connected_mib = rss_mib(broker.proc.pid)
        watch = Watch({"broker": [broker.proc.pid], "gateways": [c.proc.pid for c in gateways],
                       "prompters": [c.proc.pid for c in prompters], "clinic": [clinic.proc.pid]})
        loaded: list[np.ndarray] = []
        probe = threading.Timer(args.seconds / 3, lambda: loaded.append(baseline_latencies(broker, size)))
        watch.start()
        for c in gateways:
            c.tell("go")
        probe.start()
        for c in gateways:
            c.expect("done", timeout=args.seconds + 120)
        usage = watch.stop()
        probe.join()
        (workdir / "sent.json").write_text(json.dumps(sent_prompts(workdir)))
        for c in prompters:
            c.tell(f"stop {workdir / 'sent.json'}")
        for c in prompters:
            c.expect("done", timeout=LATE_S + 60)
        load = Path("/proc/loadavg").read_text().split()[:3]
        for c in gateways:
            c.tell("stop")
    finally:
        for c in children:
            c.end()
        if clinic is not None:
            clinic.close()
        broker.stop()
    return measured_row(n, workdir, clinic, usage, (empty_mib, connected_mib),
                        {"idle": idle, "loaded": loaded[0] if loaded else np.array([])}, " ".join(load))


def sent_prompts(workdir: Path) -> dict[str, list]:
    """Every prompt the gateways raised: id -> (patient index, when)."""
    return {pid: v for f in workdir.glob("gateway-*.json") for pid, v in json.loads(f.read_text())["sent"].items()}


def measured_row(n, workdir, clinic, usage, broker_mib, floors, load) -> Row:
    sent = {pid: at for pid, (_, at) in sent_prompts(workdir).items()}
    received, states, late = {}, [], 0.0
    for f in workdir.glob("gateway-*.json"):
        doc = json.loads(f.read_text())
        states += doc["states"]
        late = max(late, doc["late_s"])
    for f in workdir.glob("prompter-*.json"):
        doc = json.loads(f.read_text())
        received.update(doc["received"])
        if doc["rejected"] or doc["expired"]:
            print(f"prompters {f.stem}: {doc['rejected']} rejected, {doc['expired']} expired", file=sys.stderr)
    pending = sum(json.loads(f.read_text())["pending"] for f in workdir.glob("gateway-*.json"))
    if pending or set(sent) - set(received):
        first = min(sent.values())
        print(f"{pending} prompts left in outboxes; lost (s into the window): "
              f"{sorted(round(sent[p] - first, 1) for p in set(sent) - set(received))}", file=sys.stderr)
    latencies = [received[pid] - at for pid, at in sent.items() if pid in received]
    clinic_ms, missed = None, 0
    if clinic.measured:
        waits = [clinic.seen[(d, b)] - at for d, b, at in states if (d, b) in clinic.seen]
        clinic_ms, missed = percentiles_ms(waits), len(states) - len(waits)
    floor_ms = {k: percentiles_ms(v)[:2] for k, v in floors.items()}
    return Row(n, len(sent), percentiles_ms(latencies), len(set(sent) - set(received)), clinic_ms, missed,
               usage, broker_mib, floor_ms, late, load)


# ---- report -------------------------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    def ms(t) -> str:
        return " / ".join(f"{v:.0f}" if v >= 10 else f"{v:.1f}" for v in t)

    def use(row, group) -> str:
        cpu, rss = row.cpu_rss[group]
        return f"{cpu:.0f} % / {rss:.0f}"

    lines = ["| N | prompts | prompt latency p50 / p99 / max (ms) | lost | clinic latency p50 / p99 / max (ms) "
             "| broker CPU / RSS (MiB) | broker RSS no client -> all connected | gateways CPU / RSS "
             "| prompters CPU / RSS | clinic CPU / RSS "
             "| bare QoS 1 p50 / p99 idle, loaded (ms) | load 1/5/15 |",
             "|" + "---|" * 12]
    for r in rows:
        clinic = "not measured" if r.clinic_ms is None else ms(r.clinic_ms) + (
            f" ({r.clinic_missed} missed)" if r.clinic_missed else "")
        lines.append(f"| {r.patients:,} | {r.prompts:,} | {ms(r.prompt_ms)} | {r.lost} | {clinic} "
                     f"| {use(r, 'broker')} | {r.broker_mib[0]:.1f} -> {r.broker_mib[1]:.1f} "
                     f"| {use(r, 'gateways')} | {use(r, 'prompters')} | {use(r, 'clinic')} "
                     f"| {ms(r.floor_ms['idle'])}, {ms(r.floor_ms['loaded'])} | {r.load} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window (default 60)")
    parser.add_argument("--prompt-every", type=float, default=60.0, help="s between a patient's prompts")
    parser.add_argument("--per-gateway", type=int, default=125, help="patients per gateway process")
    parser.add_argument("--per-prompter", type=int, default=250, help="prompters per process")
    parser.add_argument("--hours", type=float, default=2.0, help="hours of desk day run through the pipeline")
    parser.add_argument("--max-p99", type=float, default=1.0, help="stop the ramp at this p99 (s)")
    parser.add_argument("--clinic", choices=["auto", "yes", "no"], default="auto",
                        help="measure `sitload clinic` (auto: when the command exists)")
    parser.add_argument("--role", choices=["gateway", "prompter"], help=argparse.SUPPRESS)
    for hidden in ("--first", "--count"):
        parser.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for role, most in MAX_PER_PROCESS.items():
        if getattr(args, f"per_{role}") > most:
            parser.error(f"at most {most} patients per {role} process (paho's select() takes descriptors < 1024)")
    raise_open_files()
    if args.role:
        (run_gateways if args.role == "gateway" else run_prompters)(args)
        return
    args.clinic = clinic_available() if args.clinic == "auto" else args.clinic == "yes"
    workdir = Path(tempfile.mkdtemp(prefix="sitload-fleet-"))
    try:
        traffic = pipeline_traffic(args.hours)
        (workdir / "traffic.pickle").write_bytes(pickle.dumps(traffic))
        per_s = traffic.cpu_s / traffic.data_s
        print(f"real pipeline (decode every {FEED_EVERY_S:g} s -> engine -> policy), {args.hours:g} h desk day: "
              f"{traffic.cpu_s:.1f} CPU s, {1e3 * per_s:.2f} ms per patient-second: one core holds "
              f"{1 / per_s:,.0f} patients in real time; {len(traffic.states)} states, {len(traffic.prompts)} prompts "
              f"(median {prompt_size(traffic)} bytes)", flush=True)
        rows = []
        for n in args.patients:
            try:
                row = run_fleet(n, traffic, args, workdir)
            except (RuntimeError, OSError) as exc:
                print(f"stopped at N = {n:,}: {exc}")
                break
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
            if row.lost or row.prompt_ms[1] >= args.max_p99 * 1000:
                print(f"stopped at N = {n:,}: p99 {row.prompt_ms[1]:.0f} ms, lost {row.lost}")
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.seconds:g} s window; state every {STATE_EVERY_S:g} s, a prompt every {args.prompt_every:g} s "
          f"per patient; {args.per_gateway} patients per gateway process, {args.per_prompter} prompters per "
          f"process; CPU in % of one core, RSS summed over the processes\n")
    print(table(rows))


if __name__ == "__main__":
    main()
