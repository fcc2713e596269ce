"""Live sessions: every connected sensor's batches through its SessionPipeline, prompts out over
MQTT, the patient's acks and pain reports back into the policy and the recording, and each sensor's
BLE availability out over MQTT (for Home Assistant discovery, when turned on).

Inbound MQTT messages arrive on paho's network thread; they are queued and applied on the thread
that feeds the data (the recording writer and the policy are used from that one thread).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sitload.alerts.broker import BrokerOptions
from sitload.alerts.desktop import Answer, DesktopNotifications
from sitload.alerts.ha_discovery import HaDevice
from sitload.alerts.messages import AckMessage, SymptomReport, alert_payload
from sitload.alerts.policy import PolicyConfig, Prompt
from sitload.alerts.publisher import AlertPublisher, PublisherOptions
from sitload.analytics import AnalysisConfig
from sitload.private_files import private_dir
from sitload.sensor_ingest.recording import RecordingWriter
from sitload.events import EngineState
from sitload.samples import SampleBatch
from sitload.vocab import Posture, SensorKind
from sitload.services.pipeline import ReplayTimeline, SessionPipeline

log = logging.getLogger("sitload.services.live")
KEEP_S = 86400.0    # a day of history per sensor: what a week-long monitor keeps stays bounded


def state_dir() -> Path:
    """Where undelivered prompts wait (``$SITLOAD_STATE_DIR``, else ~/.local/state/sitload); the
    live path creates it private to the user (0700)."""
    return Path(os.environ.get("SITLOAD_STATE_DIR") or Path.home() / ".local/state/sitload")


@dataclass
class _Session:
    pipeline: SessionPipeline
    publisher: AlertPublisher | None
    inbox: deque = field(default_factory=deque)


class LiveSessions:
    """One ``SessionPipeline`` (and, with a broker, one ``AlertPublisher``) per sensor address."""

    def __init__(self, *, broker_url: str | None = None, recording: RecordingWriter | None = None,
                 outbox_dir: Path | None = None, timeline: ReplayTimeline | None = None,
                 ha_discovery: bool = False, timezone: str | None = None,
                 policy_config: PolicyConfig | None = None,
                 analysis_config: AnalysisConfig | None = None, broker: BrokerOptions | None = None,
                 keep_s: float | None = KEEP_S):
        """``timeline`` maps data time to wall time for prompts (simulated sensors run faster than
        the wall clock); hardware needs none. ``ha_discovery`` publishes Home Assistant discovery
        configs; ``timezone`` (IANA) is the wearer's, for "sitting today" (None: this machine's)
        and for the policy's working and quiet hours (None: UTC), unless ``policy_config`` (when to
        prompt, e.g. a personal sitting tolerance) names a zone; ``analysis_config`` is the engines'.
        ``broker`` says how to connect to ``broker_url`` (e.g. TLS for mqtts://). ``keep_s``: the
        history each sensor's pipeline keeps (``SessionPipeline``; None: all, as a replay)."""
        self.policy_config = policy_config
        self.analysis_config = analysis_config
        self.broker_url = broker_url
        self.broker = broker
        self.recording = recording
        self.outbox_dir = outbox_dir or state_dir()
        self.timeline = timeline
        self.ha_discovery = ha_discovery
        self.timezone = timezone
        self.desktop: DesktopNotifications | None = None  # shows prompts here; its buttons answer
        self.keep_s = keep_s
        self._sessions: dict[str, _Session] = {}
        self._battery: dict[str, int | None] = {}  # the latest charge of each sensor, in percent

    def feed(self, address: str, name: str, kind: SensorKind, batches: list[SampleBatch]) -> None:
        session = self._sessions.get(address) or self._start(address, name, kind)
        self._apply_inbox(session)
        for batch in batches:
            session.pipeline.feed(batch)

    def availability(self, address: str, online: bool, battery: int | None = None) -> None:
        """The sensor's BLE link came up or went down, or its battery charge changed
        (``SensorLink``'s ``on_availability``); a sensor without a session yet is announced online
        when its first data start one."""
        self._battery[address] = battery
        session = self._sessions.get(address)
        if session is not None and session.publisher is not None:
            session.publisher.publish_availability(online, battery)

    def posture(self, address: str) -> Posture | None:
        session = self._sessions.get(address)
        return None if session is None else session.pipeline.engine.state.posture

    def prompts(self, address: str) -> list[Prompt]:
        """The sensor's prompts of the last ``keep_s`` seconds of data."""
        session = self._sessions.get(address)
        return [] if session is None else session.pipeline.prompts

    def answer(self, answer: Answer) -> None:
        """A desktop notification's button (any thread): queued for the session that raised the
        prompt, like an ``ack`` or ``symptom`` from MQTT."""
        for session in self._sessions.values():
            if any(p.id == answer.prompt_id for p in session.pipeline.prompts):
                session.inbox.append(answer.message(time.time()))

    def close(self) -> None:
        if self.desktop is not None:
            self.desktop.close()
        for session in self._sessions.values():
            session.pipeline.finish()
            self._apply_inbox(session)
            if session.publisher is not None:
                session.publisher.close()

    def _start(self, address: str, name: str, kind: SensorKind) -> _Session:
        device_id = name or address.replace(":", "")
        inbox: deque = deque()
        publisher = None
        if self.broker_url:
            private_dir(self.outbox_dir)
            ha_device = HaDevice(kind.cli_name, mat=kind == SensorKind.PRESSURE) if self.ha_discovery else None
            publisher = AlertPublisher(self.broker_url, device_id,
                                       outbox_path=self.outbox_dir / f"{device_id}.outbox",
                                       broker=self.broker,
                                       options=PublisherOptions(timezone=self.timezone, ha_device=ha_device),
                                       on_ack=inbox.append, on_symptom=inbox.append)
            publisher.publish_availability(True, self._battery.get(address))  # its data are flowing
        pipeline = SessionPipeline(kind, device_id, policy_config=self.policy_config,
                                   analysis_config=self.analysis_config, timezone=self.timezone,
                                   on_prompt=lambda p: self._prompt(session, p),
                                   on_state=lambda state: self._state(session, state),
                                   timeline=self.timeline, keep_s=self.keep_s)
        session = _Session(pipeline, publisher, inbox)
        self._sessions[address] = session
        return session

    def _prompt(self, session: _Session, prompt: Prompt) -> None:
        if self.recording is not None:
            self.recording.add_prompt(prompt.id, prompt.created, prompt.kind, alert_payload(prompt))
        wall = self.timeline.to_wall(prompt) if self.timeline else prompt
        if session.publisher is not None:
            session.publisher.publish_prompt(wall)
        if self.desktop is not None:
            self.desktop.show(alert_payload(wall))

    def _state(self, session: _Session, state: EngineState) -> None:
        if session.publisher is not None:
            session.publisher.publish_state(state)
        if self.desktop is not None:
            self.desktop.withdraw_done(state.posture, state.lean_side, state.crossed)

    def _apply_inbox(self, session: _Session) -> None:
        while session.inbox:
            message = session.inbox.popleft()
            if isinstance(message, AckMessage):
                session.pipeline.ack(message)
                if self.recording is not None:
                    detail = "" if message.minutes is None else f"{message.minutes:g} min"
                    self.recording.add_ack(message.prompt_id, message.time or 0.0,
                                           message.action, detail)
            elif isinstance(message, SymptomReport) and self.recording is not None:
                self.recording.add_diary(message.time, message.pain, location=message.location,
                                         side=message.side, tingling=message.tingling,
                                         note=message.note, source="mqtt")
