"""Wiring of the stages for one device: decoded batches -> analytics -> alert policy -> prompts.

The same ``SessionPipeline`` serves live monitoring and replay. The policy sees the engine's state
at fixed steps of data time (every ``STEP_S`` seconds of UTC), never at the edges of whatever
batches the transport happened to deliver, so a recording gives the same prompts live, replayed
at any speed, or replayed as fast as possible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from sitload.alerts.messages import AckMessage
from sitload.alerts.policy import Outcome, Policy, PolicyConfig, Prompt, PromptStatus
from sitload.analytics import AnalysisConfig, AnalysisResult, Engine
from sitload.events import EngineState
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind
from sitload.sensor_ingest.stream_decoder import DecodeStats, Gap

STEP_S = 5.0
FORGET_EVERY_S = 3600.0   # a live session drops its history older than keep_s this often (data time)


@dataclass
class SessionResult:
    analysis: AnalysisResult
    prompts: list[Prompt]
    decode: DecodeStats
    gaps: list[Gap]
    note: str | None = None
    devices: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)   # what became of each prompt


class ReplayTimeline:
    """Maps the data time of a replay to wall-clock time, for prompts published while replaying.

    Paced at ``speed`` X, data time runs X times faster than the wall clock, and so does a prompt's
    lifetime. Unpaced, a prompt is re-enacted when it is published: it is created "now" and keeps
    its lifetime.
    """

    def __init__(self, speed: float | None = None):
        self.speed = speed
        self._data0: float | None = None
        self._wall0 = 0.0

    def observe(self, data_now: float) -> None:
        if self._data0 is None:
            self._data0, self._wall0 = data_now, time.time()

    def to_wall(self, prompt: Prompt) -> Prompt:
        if self.speed:
            created = self._wall0 + (prompt.created - self._data0) / self.speed
            lifetime = (prompt.expires - prompt.created) / self.speed
        else:
            created = time.time()
            lifetime = prompt.expires - prompt.created
        return replace(prompt, created=created, expires=created + lifetime)


StateCallback = Callable[[EngineState, PromptStatus | None], None]  # at every step: engine state, newest prompt


class SessionPipeline:
    """Engine and prompt policy of one device. ``feed`` batches in arrival order; ``ack`` may be
    called from another thread (e.g. the MQTT network thread). ``timezone`` is the wearer's (IANA):
    the policy's working and quiet hours are in it unless ``policy_config`` names a zone.
    ``analysis_config`` is the engine's (the same as the batch analysis's for the same results);
    ``on_state`` gets the engine's state and what became of the newest prompt at every step;
    its prolonged-sitting thresholds are the policy's too. ``keep_s`` bounds a live session's
    memory: no per-second rows are kept, and bouts, gaps, prompts and their outcomes older than
    ``keep_s`` seconds of data are dropped (hourly); None (a replay) keeps all for the result."""

    def __init__(self, kind: SensorKind, device_id: str, *,
                 policy_config: PolicyConfig | None = None,
                 analysis_config: AnalysisConfig | None = None, timezone: str | None = None,
                 on_prompt: Callable[[Prompt], None] | None = None,
                 on_state: StateCallback | None = None,
                 timeline: ReplayTimeline | None = None, step_s: float = STEP_S,
                 keep_s: float | None = None):
        analysis_config = analysis_config or AnalysisConfig()
        self.policy = Policy((policy_config or PolicyConfig()).in_zone(timezone),
                             device_id=device_id, prolonged_s=analysis_config.prolonged_s)
        self.engine = Engine(kind, analysis_config, keep_epochs=keep_s is None, on_seconds=self._seconds)
        self.prompts: list[Prompt] = []
        self._on_prompt = on_prompt
        self._on_state = on_state
        self._timeline = timeline
        self._step = step_s
        self._window: int | None = None
        self._keep_s = keep_s
        self._forgot_at: float | None = None
        self._data_now = 0.0
        self._lock = threading.Lock()

    def feed(self, batch: SampleBatch) -> None:
        if len(batch) == 0:
            return
        if self._timeline is not None:
            self._timeline.observe(float(batch.t[-1]))
        self._data_now = float(batch.t[-1])
        windows = np.floor(batch.t / self._step).astype(np.int64)
        cuts = [0, *(np.flatnonzero(np.diff(windows)) + 1).tolist(), len(batch)]
        with self._lock:
            for a, b in zip(cuts[:-1], cuts[1:]):
                window = int(windows[a])
                if self._window is not None and window != self._window:
                    self._step_state((self._window + 1) * self._step)
                self._window = window
                piece = batch if (a, b) == (0, len(batch)) else batch.select(slice(a, b))
                for event in self.engine.feed(piece):
                    self._emit(self.policy.on_event(event, event.t))

    def finish(self) -> None:
        with self._lock:
            for event in self.engine.finish():
                self._emit(self.policy.on_event(event, event.t))

    def ack(self, message: AckMessage) -> None:
        """Apply the patient's answer at the session's current data time."""
        with self._lock:
            self.policy.on_ack(message.prompt_id, message.action, self._data_now,
                               message.minutes)

    def _seconds(self, cols: dict) -> None:
        crossed = cols["crossed"] if "crossed" in self.engine.measured else None
        self.policy.on_seconds(cols["sec"], cols["posture"], cols["lean_side"], crossed)

    def _step_state(self, now: float) -> None:
        state = self.engine.state
        self._emit(self.policy.on_state(state, now))
        if self._on_state is not None:
            self._on_state(state, self.policy.latest_prompt(now))
        if self._keep_s is not None and (self._forgot_at is None or now - self._forgot_at >= FORGET_EVERY_S):
            self._forget_before(now - self._keep_s)
            self._forgot_at = now

    def _forget_before(self, t: float) -> None:
        self.engine.forget_before(t)
        self.policy.forget_before(t)
        self.prompts = [p for p in self.prompts if p.created >= t]

    def _emit(self, prompts: list[Prompt]) -> None:
        for prompt in prompts:
            self.prompts.append(prompt)
            if self._on_prompt is not None:
                self._on_prompt(prompt)


def run_session(rec: Recording, *, speed: float | None = None,
                policy_config: PolicyConfig | None = None,
                analysis_config: AnalysisConfig | None = None,
                on_prompt: Callable[[Prompt], None] | None = None,
                on_state: StateCallback | None = None,
                timeline: ReplayTimeline | None = None,
                device_id: str | None = None,
                progress: Callable[[float], None] | None = None) -> SessionResult:
    """Replay the recording's first device through the engine and the prompt policy.

    Prompts are timed by the data (``now`` is the data time that raised them), so a replay gives
    the same prompts at any speed. The policy's hours are in the recording's time zone (its
    ``timezone`` meta) unless ``policy_config`` names one. ``progress`` gets the fraction of the
    recording's time done.
    """
    replay = DeviceReplay.of(rec)
    device = replay.device
    pipeline = SessionPipeline(device.kind, device_id or device.name, policy_config=policy_config,
                               analysis_config=analysis_config,
                               timezone=rec.meta.get("timezone"), on_prompt=on_prompt,
                               on_state=on_state, timeline=timeline)
    span = rec.time_span(device.id)
    for batch in replay.batches(speed=speed):
        pipeline.feed(batch)
        if progress is not None and span is not None and span[1] > span[0]:
            progress(min(1.0, (float(batch.t[-1]) - span[0]) / (span[1] - span[0])))
    pipeline.finish()
    if progress is not None:
        progress(1.0)
    return SessionResult(pipeline.engine.result(), pipeline.prompts, replay.decoder.stats,
                         replay.decoder.gaps, replay.note, [device.address],
                         dict(pipeline.policy.outcomes))
