"""Wiring of the stages for one recorded session: decode -> analytics -> alert policy -> MQTT."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from alerts import Policy, PolicyConfig, Prompt
from analytics import AnalysisResult, Engine
from sensor_ingest.recording import Recording
from sensor_ingest.replay import decoder_for, describe_end, replay_batches
from sensor_ingest.stream_decoder import DecodeStats, Gap


@dataclass
class SessionResult:
    analysis: AnalysisResult
    prompts: list[Prompt]
    decode: DecodeStats
    gaps: list[Gap]
    note: str | None = None
    devices: list[str] = field(default_factory=list)


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


def run_session(rec: Recording, *, speed: float | None = None,
                policy_config: PolicyConfig | None = None,
                on_prompt: Callable[[Prompt], None] | None = None,
                on_state: Callable[[object], None] | None = None,
                timeline: ReplayTimeline | None = None,
                device_id: str | None = None) -> SessionResult:
    """Replay the recording's first device through the engine and the prompt policy.

    Prompts are timed by the data (``now`` is the time of the data that raised them), so a
    replay gives the same prompts at any speed; ``timeline`` (if given) sees the data time before
    each batch's events are handled, for mapping prompts to wall-clock time.
    """
    device = rec.device()
    decoder = decoder_for(rec, device.id)
    engine = Engine(device.kind)
    policy = Policy(policy_config or PolicyConfig(), device_id=device_id or device.name)
    prompts: list[Prompt] = []

    def handle(new: list[Prompt]) -> None:
        for prompt in new:
            prompts.append(prompt)
            if on_prompt is not None:
                on_prompt(prompt)

    for batch in replay_batches(rec, device.id, speed=speed, decoder=decoder):
        if timeline is not None:
            timeline.observe(float(batch.t[-1]))
        for event in engine.feed(batch):
            handle(policy.on_event(event, event.t))
        now = float(batch.t[-1])
        handle(policy.on_state(engine.state, now))
        if on_state is not None:
            on_state(engine.state)
    for event in engine.finish():
        handle(policy.on_event(event, event.t))
    return SessionResult(engine.result(), prompts, decoder.stats, decoder.gaps,
                         describe_end(rec, device.id), [device.address])
