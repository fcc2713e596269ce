"""The prompt policy: analytics events and engine state in, prompts out. Pure (no I/O, no clock).

Every method takes ``now`` (UTC epoch seconds); replaying the same inputs gives the same prompts with
the same ids. The policy decides *whether* to prompt (thresholds, cooldowns, snoozes, rate limit,
quiet/working hours) and tracks what became of each prompt (acted on, acknowledged, ignored).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from sitload.alerts.adherence import SEEN_BY_SENSOR, answered_done, in_window, shows_change
from sitload.alerts.policy_config import PolicyConfig, parse_hhmm
from sitload.alerts.stretches import AFTER_BREAK_STRETCHES, BREAK_STRETCHES, rotate
from sitload.events import (BoutEnded, BoutStarted, DataGap, EngineState, Event, Leaning,
                            LegsCrossed, PostureChanged, ProlongedSitting)
from sitload.vocab import NOT_MEASURED, PROLONGED_S, AckAction, BoutEnd, Posture, PromptKind, Side
_ID_NAMESPACE = uuid.UUID("5a170001-6d3b-4c8e-9f2a-51c0ad5e7001")


@dataclass(frozen=True)
class Prompt:
    """One nudge to the patient. ``id`` is a UUID derived from device, kind and creation time."""

    id: str
    kind: PromptKind
    created: float
    expires: float
    message: str
    urgency: str = "normal"
    stretch: str | None = None  # a stretches.STRETCHES id
    follows: str | None = None  # the ignored prompt this one escalates
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What became of a prompt: 'done' (acted on), 'ack', 'snooze', 'dismiss', 'escalated', 'expired',
    or 'no_data' (the bout ended in a data gap, so nobody knows)."""

    prompt_id: str
    kind: PromptKind
    created: float
    resolution: str | None = None
    resolved_at: float | None = None
    acted: bool = False  # sitload.alerts.adherence: the asked-for change within the window


@dataclass(frozen=True)
class PromptStatus:
    """The newest prompt's fate so far, for the live state: the patient's answer to it (None
    without one) and whether it was acted on (None while its adherence window is open)."""

    prompt_id: str
    answer: AckAction | None
    acted_on: bool | None


def prompt_id(device_id: str, kind: str, created: float) -> str:
    """The deterministic id of a prompt (replays of the same data give the same ids)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{device_id}|{kind}|{created:.3f}"))


def _minutes(seconds: float) -> int:
    return int(seconds // 60)




class Policy:
    """Turns events/state into prompts; ``tick(now)`` handles the passage of time alone.

    ``prolonged_s`` are the analysis's prolonged-sitting thresholds (``AnalysisConfig.prolonged_s``):
    by default a bout of at least the first earns a stretch prompt.
    """

    def __init__(self, config: PolicyConfig = PolicyConfig(), device_id: str = "",
                 prolonged_s: Sequence[float] = PROLONGED_S) -> None:
        self.config = config
        self.device_id = device_id
        self.stretch_after_s = prolonged_s[0] if config.stretch_after_bout_min is None \
            else 60.0 * config.stretch_after_bout_min
        self._tz = ZoneInfo(config.timezone or "UTC")
        self.sitting = False  # in a sitting bout (as analytics defines it: short stand-ups stay inside)
        self.bout_start: float | None = None
        self.off_since: float | None = None  # not sitting now, though the bout may not have ended yet
        self.lean_since: float | None = None
        self.lean_side = "none"
        self.lean_si: float | None = None
        self.crossed_since: float | None = None
        self.crossed = "none"
        self._wear_since: float | None = None
        self._last_checkin: float | None = None
        self._next_allowed: dict[str, float] = {}
        self._created: list[float] = []  # creation times of prompts issued, for the hourly limit
        self._open: dict[str, Prompt] = {}
        self._issued: dict[str, int] = {}  # prompts issued per kind (rotates the stretches offered)
        self.outcomes: dict[str, Outcome] = {}

    # ---- inputs -------------------------------------------------------------------------------

    def on_event(self, event: Event, now: float) -> list[Prompt]:
        """Consume one analytics event; returns the prompts it (and the time passed) gives rise to."""
        prompts: list[Prompt] = []
        self._seen(now)
        match event:
            case BoutStarted(start=start) | ProlongedSitting(start=start):
                if not self.sitting:
                    self._sit(start)
            case BoutEnded(bout=bout) if bout.ended_by == BoutEnd.BREAK:
                prompts += self._stand(bout.end, now)
            case BoutEnded(bout=bout):
                self._lost(bout.end)
            case PostureChanged(t=t, posture=posture):
                self._posture(posture, t)
            case Leaning(side=side, since=since, si=si):
                self._lean(si, side.wire, since)
            case LegsCrossed(side=side, since=since):
                self._cross(side.wire, since)
            case DataGap(t=t):
                self._lean(None, Side.NONE.wire, t)
                self._cross(Side.NONE.wire, t)
        return prompts + self.tick(now)

    def on_state(self, state: EngineState, now: float) -> list[Prompt]:
        """Sync with the streaming engine's state; returns the prompts now due."""
        self._seen(now)
        prompts: list[Prompt] = []
        if state.bout_start is not None:
            if not self.sitting:
                self._sit(state.bout_start)
            self.bout_start = state.bout_start
        elif self.sitting:
            if state.posture in NOT_MEASURED:
                self._lost(now)
            else:
                prompts += self._stand(self.off_since or now, now)
        self._posture(state.posture, now)
        if state.posture == Posture.SITTING:
            self._lean(state.asymmetry_si, state.lean_side.wire, now)
            self._cross(state.crossed.wire if state.crossed is not None else Side.NONE.wire, now)
        return prompts + self.tick(now)

    def on_seconds(self, t: np.ndarray, posture: np.ndarray, lean_side: np.ndarray,
                   crossed: np.ndarray | None) -> None:
        """Decided seconds (UTC starts; Posture and Side codes; ``crossed`` None when the sensor
        cannot see it): a prompt whose window holds a second showing what it asked for was acted
        on (sitload.alerts.adherence, the rule the report applies too)."""
        window = 60.0 * self.config.adherence_window_min
        for o in self.outcomes.values():
            if o.acted or o.kind not in SEEN_BY_SENSOR or t[-1] < o.created \
                    or t[0] >= o.created + window:
                continue
            inside = in_window(o.created, t, window)
            o.acted = bool(shows_change(o.kind, posture[inside], lean_side[inside],
                                        None if crossed is None else crossed[inside]).any())

    def on_ack(self, prompt_id: str, action: str, now: float, minutes: float | None = None) -> Outcome | None:
        """Record the patient's answer: 'ack', 'done', 'dismiss', or 'snooze' (for ``minutes``)."""
        action = AckAction(action)
        outcome = self.outcomes.get(prompt_id)
        if outcome is None:
            return None
        if action == AckAction.SNOOZE:
            # "remind me later": this kind waits for the snooze, then may prompt again at once
            self._next_allowed[outcome.kind] = now + 60.0 * (minutes or self.config.snooze_min)
        if outcome.resolution is None or outcome.resolution in ("escalated", "expired"):
            outcome.resolution, outcome.resolved_at = action.value, now
        outcome.acted = outcome.acted or answered_done(
            outcome.created, [(now, action)], 60.0 * self.config.adherence_window_min)
        self._open.pop(prompt_id, None)
        return outcome

    def tick(self, now: float) -> list[Prompt]:
        """Prompts due by time alone: thresholds reached, escalations, check-ins; expires stale ones."""
        cfg = self.config
        prompts: list[Prompt] = []
        self._resolve_cleared(now)
        for p in list(self._open.values()):
            if now >= p.expires:
                self._close(p.id, "expired", now)
            elif (cfg.escalate_after_min is not None and p.urgency != "high" and p.kind != "checkin"
                  and now - p.created >= 60.0 * cfg.escalate_after_min and self._still_true(p.kind)):
                follow = self._issue(p.kind, now, urgency="high", follows=p.id, bypass_cooldown=True)
                if follow is not None:
                    self._close(p.id, "escalated", now)
                    prompts.append(follow)
        if self.sitting and self.bout_start is not None and self.off_since is None:
            sat = now - self.bout_start
            if sat >= 60.0 * cfg.break_threshold_min:
                prompts += self._maybe("break", now)
            if self.lean_since is not None and now - self.lean_since >= 60.0 * cfg.shift_after_min:
                prompts += self._maybe("shift", now)
            if self.crossed_since is not None and now - self.crossed_since >= 60.0 * cfg.uncross_after_min:
                prompts += self._maybe("uncross", now)
        if cfg.checkin_every_min is not None and self._wear_since is not None:
            last = self._last_checkin if self._last_checkin is not None else self._wear_since
            if now - last >= 60.0 * cfg.checkin_every_min:
                got = self._maybe("checkin", now)
                if got:
                    self._last_checkin = now
                prompts += got
        return prompts

    def latest_prompt(self, now: float) -> PromptStatus | None:
        """What became of the newest prompt by ``now`` (None before the first)."""
        if not self.outcomes:
            return None
        o = next(reversed(self.outcomes.values()))  # in the order issued
        answer = AckAction(o.resolution) if o.resolution in set(AckAction) else None
        closed = now >= o.created + 60.0 * self.config.adherence_window_min
        return PromptStatus(o.prompt_id, answer, True if o.acted else (False if closed else None))

    def forget_before(self, t: float) -> None:
        """Drop the outcomes of prompts created before ``t`` and no longer open (a long-running
        session keeps a bounded history)."""
        self.outcomes = {pid: o for pid, o in self.outcomes.items() if o.created >= t or pid in self._open}

    @property
    def open_prompts(self) -> list[Prompt]:
        """Prompts issued and not yet resolved, escalated or expired."""
        return list(self._open.values())

    # ---- state tracking ---------------------------------------------------------------------

    def _seen(self, now: float) -> None:
        if self._wear_since is None:
            self._wear_since = now

    def _sit(self, start: float) -> None:
        self.sitting, self.bout_start, self.off_since = True, start, None
        self._lean(None, "none", start)
        self._cross("none", start)

    def _posture(self, posture: Posture, t: float) -> None:
        if posture == Posture.SITTING:
            self.off_since = None
        elif posture not in NOT_MEASURED:
            if self.off_since is None:
                self.off_since = t
            self._lean(None, "none", t)
            self._cross("none", t)

    def _end_bout(self, t: float) -> float:
        bout_s = t - self.bout_start if self.bout_start is not None else 0.0
        self.sitting, self.bout_start = False, None
        self._lean(None, "none", t)
        self._cross("none", t)
        return bout_s

    def _lost(self, t: float) -> None:
        """The bout ended in a data gap: open prompts can be neither credited nor followed up."""
        self._end_bout(t)
        for p in list(self._open.values()):
            if p.kind in ("break", "shift", "uncross"):
                self._close(p.id, "no_data", t)

    def _stand(self, t: float, now: float) -> list[Prompt]:
        """The bout ended by a break at ``t``: break prompts done; a long bout earns a stretch prompt."""
        if not self.sitting:
            return []
        bout_s = self._end_bout(t)
        for p in list(self._open.values()):
            if p.kind in SEEN_BY_SENSOR:
                self._close(p.id, "done", t)
        if bout_s >= self.stretch_after_s:
            return self._maybe("stretch", now, bout_minutes=_minutes(bout_s))
        return []

    def _lean(self, si: float | None, side: str, since: float) -> None:
        if si is not None and math.isnan(si):
            si = None
        leaning = side in ("left", "right") and (si is None or abs(si) >= self.config.shift_si_pct)
        if not leaning or not self.sitting:
            self.lean_since, self.lean_side, self.lean_si = None, "none", None
            return
        if self.lean_since is None or side != self.lean_side:
            self.lean_since, self.lean_side = since, side
        self.lean_si = None if si is None else abs(float(si))

    def _cross(self, crossed: str, since: float) -> None:
        if crossed not in ("left", "right") or not self.sitting:
            self.crossed_since, self.crossed = None, "none"
        elif self.crossed_since is None or crossed != self.crossed:
            self.crossed_since, self.crossed = since, crossed

    def _still_true(self, kind: str) -> bool:
        return {"break": self.sitting and self.off_since is None, "shift": self.lean_since is not None,
                "uncross": self.crossed_since is not None}.get(kind, False)

    def _resolve_cleared(self, t: float) -> None:
        """Open shift/uncross prompts whose condition has gone (sat evenly, uncrossed, got up) are done."""
        for p in list(self._open.values()):
            if p.kind in ("shift", "uncross") and not self._still_true(p.kind):
                self._close(p.id, "done", t)

    def _close(self, pid: str, resolution: str, t: float) -> None:
        self._open.pop(pid, None)
        o = self.outcomes[pid]
        if o.resolution is None:
            o.resolution, o.resolved_at = resolution, t

    # ---- gating and construction ------------------------------------------------------------

    def _maybe(self, kind: str, now: float, **detail: Any) -> list[Prompt]:
        if any(p.kind == kind for p in self._open.values()):
            return []
        p = self._issue(kind, now, **detail)
        return [p] if p is not None else []

    def _allowed_hours(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, timezone.utc).astimezone(self._tz).time()

        def inside(window: tuple[str, str]) -> bool:
            a, b = parse_hhmm(window[0]), parse_hhmm(window[1])
            return a <= local < b if a <= b else (local >= a or local < b)

        cfg = self.config
        if cfg.working_hours is not None and not inside(cfg.working_hours):
            return False
        return cfg.quiet_hours is None or not inside(cfg.quiet_hours)

    def _issue(self, kind: str, now: float, *, urgency: str | None = None, follows: str | None = None,
               bypass_cooldown: bool = False, **detail: Any) -> Prompt | None:
        cfg = self.config
        if not self._allowed_hours(now):
            return None
        if now < self._next_allowed.get(kind, float("-inf")) and not bypass_cooldown:
            return None
        self._created = [c for c in self._created if now - c < 3600.0]
        if len(self._created) >= cfg.max_prompts_per_hour:
            return None
        prompt = self._build(kind, now, urgency, follows, detail)
        self._created.append(now)
        self._issued[kind] = self._issued.get(kind, 0) + 1
        self._next_allowed[kind] = now + 60.0 * cfg.cooldown_min.get(kind, 0.0)
        self._open[prompt.id] = prompt
        self.outcomes[prompt.id] = Outcome(prompt.id, kind, now)
        return prompt

    def _build(self, kind: str, now: float, urgency: str | None, follows: str | None,
               detail: dict[str, Any]) -> Prompt:
        cfg = self.config
        stretch = None
        if kind == "break":
            sat = _minutes(now - (self.bout_start or now))
            stretch = rotate(BREAK_STRETCHES, self._issued.get("break", 0))
            walk = f"{cfg.break_walk_min:g} minute" + ("s" if cfg.break_walk_min != 1 else "")
            message = (f"You have been sitting for {sat} min — stand up and walk for {walk}, "
                       f"then try: {stretch.name}.")
            detail = {"bout_minutes": sat, **detail}
        elif kind == "shift":
            held = _minutes(now - (self.lean_since or now))
            other = "right" if self.lean_side == "left" else "left"
            si = "" if self.lean_si is None else f" (load asymmetry {self.lean_si:.0f}%)"
            message = (f"You have been leaning onto your {self.lean_side} buttock for {held} min{si} — "
                       f"shift your weight toward the {other} or sit evenly on both sides.")
            detail = {"lean_side": self.lean_side, "minutes": held,
                      "asymmetry_si": None if self.lean_si is None else round(self.lean_si, 1)}
        elif kind == "uncross":
            held = _minutes(now - (self.crossed_since or now))
            message = (f"Your {self.crossed} leg has been crossed over for {held} min — "
                       f"uncross your legs and put both feet flat on the floor.")
            detail = {"crossed": self.crossed, "minutes": held}
        elif kind == "stretch":
            stretch = rotate(AFTER_BREAK_STRETCHES, self._issued.get("stretch", 0))
            message = (f"Good, you are up after {detail.get('bout_minutes', 0)} min of sitting. "
                       f"Now is a good time for: {stretch.name} ({stretch.duration_s} s"
                       f"{' each side' if stretch.side == 'each' else ''}).")
        else:  # checkin
            message = "Check-in: how is your buttock or leg pain right now, from 0 to 10?"
        if follows is not None:
            message = "Reminder: " + message
        return Prompt(
            id=prompt_id(self.device_id, kind, now), kind=kind, created=now,
            expires=now + 60.0 * cfg.expiry_min, message=message,
            urgency=urgency or ("normal" if kind in ("break", "uncross") else "low"),
            stretch=stretch.id if stretch is not None else None, follows=follows, detail=detail)
