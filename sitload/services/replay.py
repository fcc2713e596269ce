"""Replaying a recording through the engine and the prompt policy, optionally publishing its
prompts and state to a broker as a live session would."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sitload.alerts.broker import Backoff, BrokerOptions
from sitload.alerts.policy import PolicyConfig
from sitload.analytics import AnalysisConfig
from sitload.progress import Progress
from sitload.sensor_ingest.replay import open_recording
from sitload.services.pipeline import ReplayTimeline, SessionResult, run_session

if TYPE_CHECKING:
    from sitload.alerts.publisher import Delivery

CONNECT_GRACE_S = 5.0     # how long a broker not yet connected is waited for after the replay


@dataclass(frozen=True)
class ReplayOutcome:
    """The replayed session; with a broker, why it was never reached (the prompts stay in the
    outbox for the next run) and what it took of the prompts."""

    session: SessionResult
    unreached: str | None = None
    delivery: Delivery | None = None


def replay_recording(path: str, *, policy: PolicyConfig, analysis_config: AnalysisConfig,
                     device_id: str | None = None, speed: float | None = None,
                     broker_url: str | None = None, broker: BrokerOptions | None = None,
                     progress: Progress | None = None) -> ReplayOutcome:
    """Replay the recording's first device (paced at ``speed`` X, or as fast as possible); with
    ``broker_url``, its prompts go through the outbox next to the recording (``.outbox``) and its
    state is published, timed on the wall clock as if live."""
    with open_recording(path) as rec:
        device_id = device_id or rec.device().name or "sensor"
        options = {"speed": speed, "device_id": device_id, "policy_config": policy,
                   "analysis_config": analysis_config, "progress": progress}
        if not broker_url:
            return ReplayOutcome(run_session(rec, **options))
        from sitload.alerts.publisher import AlertPublisher, PublisherOptions

        broker = broker or BrokerOptions()
        if speed:   # data time runs X-fold faster: so must the reconnect backoff, or prompts
            # that live 15 min / X would expire while the publisher waits to retry
            broker = replace(broker, backoff=Backoff(max_s=max(1.0, 30.0 / speed)))
        outbox = Path(path).with_suffix(".outbox")
        publisher = AlertPublisher(
            broker_url, device_id, outbox_path=outbox, broker=broker,
            options=PublisherOptions(await_prompter=False, timezone=rec.meta.get("timezone")))
        timeline = ReplayTimeline(speed)
        try:
            session = run_session(rec, timeline=timeline, **options,
                                  on_prompt=lambda p: publisher.publish_prompt(timeline.to_wall(p)),
                                  on_state=publisher.publish_state)
            unreached = None
            if not publisher.wait_connected(CONNECT_GRACE_S):
                where = publisher.conn.address
                why = (publisher.conn.refused    # e.g. a TLS certificate not verified
                       or f"broker {where.host}:{where.port} could not be reached")
                unreached = (f"{why}; {len(publisher.outbox.pending())} prompt(s) left "
                             f"undelivered in {outbox}")
            else:
                publisher.settle(CONNECT_GRACE_S)
            delivery = publisher.delivery([p.id for p in session.prompts])
        finally:
            publisher.close()
        return ReplayOutcome(session, unreached, delivery)
