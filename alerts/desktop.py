"""Prompts as native desktop notifications with Done / Snooze / Pain buttons (desktop-notifier:
freedesktop D-Bus on Linux, the native APIs on macOS and Windows).

This module only shows, replaces and withdraws notifications and reports the buttons pressed; the
prompter decides what is shown. desktop-notifier delivers button presses on a running asyncio loop,
so one runs in a daemon thread here, and ``on_answer`` is called on that thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from sitload.alerts.adherence import state_shows_change
from sitload.alerts.messages import AckMessage, SymptomReport
from sitload.alerts.stretches import stretch_lines
from sitload.errors import NotificationError
from sitload.timestamps import from_iso
from sitload.vocab import Posture, PromptKind, Side

log = logging.getLogger(__name__)

SNOOZE_MIN = 10.0
PAIN_CHOICES = ((2, "Mild (2)"), (5, "Moderate (5)"), (8, "Severe (8)"))
CONNECT_TIMEOUT_S = 5.0
TITLES = {PromptKind.BREAK: "Time for a break", PromptKind.SHIFT: "Shift your weight",
          PromptKind.UNCROSS: "Uncross your legs", PromptKind.STRETCH: "Time to stretch",
          PromptKind.CHECKIN: "How is the pain?"}
_URGENCY = {"low": "Low", "normal": "Normal", "high": "Critical"}


@dataclass(frozen=True)
class Answer:
    """A button pressed on a prompt's notification: 'done', 'snooze' (for ``minutes``), 'dismiss'
    (closed by the patient) or 'pain' (with the 0-10 ``pain`` chosen)."""

    prompt_id: str
    action: str
    minutes: float | None = None
    pain: int | None = None

    def message(self, now: float) -> AckMessage | SymptomReport:
        """What the terminal prompter sends for the same answer: an ``ack``, or a ``symptom``."""
        if self.action == "pain":
            return SymptomReport.new(self.pain, now)
        return AckMessage(self.prompt_id, self.action, self.minutes, now)


def state_of(doc: dict) -> tuple[Posture, Side, Side | None]:
    """A ``state`` document's posture, lean side and crossed side (None: the sensor cannot see it)."""
    crossed = doc["crossed"]
    return (Posture.from_wire(doc["posture"]), Side.from_wire(doc["lean_side"]),
            None if crossed is None else Side.from_wire(crossed))


def open_desktop(on_answer: Callable[[Answer], None], out: TextIO) -> DesktopNotifications | None:
    """Desktop notifications, or None after saying on ``out`` in one line why prompts are only printed."""
    try:
        return DesktopNotifications(on_answer)
    except NotificationError as exc:
        print(f"--notify: {exc}; printing prompts instead", file=out, flush=True)
        return None


def notification_text(doc: dict) -> tuple[str, str]:
    """The title and body of an alert document: the prompt's message, then the stretch's steps."""
    body = [doc["message"]]
    if doc.get("stretch"):
        body += stretch_lines(doc["stretch"])
    return f"sitload: {TITLES[PromptKind(doc['kind'])]}", "\n".join(body)


class DesktopNotifications:
    """One notification per prompt kind on the desktop; a newer prompt of a kind (or one that
    escalates a shown prompt) replaces the one shown. NotificationError when there is no service."""

    def __init__(self, on_answer: Callable[[Answer], None], *, app_name: str = "sitload",
                 clock: Callable[[], float] = time.time) -> None:
        try:
            import desktop_notifier as dn
        except ImportError:
            raise NotificationError("desktop notifications need the notify extra "
                                    "(pip install 'sitload[notify]')") from None
        self._dn = dn
        self._on_answer = on_answer
        self._clock = clock
        self._shown: dict[str, tuple[str, str]] = {}  # kind -> (prompt id, notification id)
        self._expiry: dict[str, asyncio.TimerHandle] = {}  # prompt id -> its withdrawal
        self._none_shown = threading.Event()
        self._none_shown.set()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="sitload-desktop", daemon=True).start()
        self._notifier = dn.DesktopNotifier(app_name=app_name, app_icon=None)
        try:
            caps = self._run(self._notifier.get_capabilities(), CONNECT_TIMEOUT_S)
        except Exception as exc:  # dbus-fast raises several types for a missing bus or server
            self.close()
            raise NotificationError(f"no desktop notification service ({_reason(exc)})") from None
        if not caps:
            self.close()
            raise NotificationError("no desktop notification service on this platform "
                                    "(on macOS desktop-notifier needs a signed app bundle)")
        self.buttons = dn.Capability.BUTTONS in caps
        if not self.buttons:
            log.warning("the notification server shows no buttons; answer in the terminal")

    def show(self, doc: dict) -> None:
        """Show an alert document until its ``expires``, replacing a shown prompt of its kind."""
        self._run(self._show(doc), CONNECT_TIMEOUT_S)

    def withdraw(self, prompt_id: str) -> None:
        """Take a prompt's notification off the screen (expired, or resolved by the sensor)."""
        self._run(self._withdraw(prompt_id), CONNECT_TIMEOUT_S)

    def withdraw_done(self, posture: Posture, lean_side: Side, crossed: Side | None) -> None:
        """Withdraw the prompts this moment shows done (sitload.alerts.adherence: stood up, sat
        evenly, uncrossed)."""
        for kind, (pid, _) in list(self._shown.items()):
            if state_shows_change(kind, posture, lean_side, crossed):
                self.withdraw(pid)

    def wait_answered(self, timeout_s: float | None = None) -> bool:
        """Wait until no prompt is on screen (answered, withdrawn or expired); False on timeout."""
        return self._none_shown.wait(timeout_s)

    @property
    def shown(self) -> list[str]:
        """The prompt ids on screen."""
        return [pid for pid, _ in self._shown.values()]

    def close(self) -> None:
        """Withdraw every notification shown (nobody would hear its buttons) and stop the loop."""
        if self._loop.is_running():
            self._run(self._notifier.clear_all(), CONNECT_TIMEOUT_S)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self, coro, timeout_s: float):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _show(self, doc: dict) -> None:
        dn, pid = self._dn, doc["id"]
        for old in {doc["kind"], *(k for k, (p, _) in self._shown.items() if p == doc.get("follows"))}:
            if old in self._shown:
                await self._withdraw(self._shown[old][0])
        title, body = notification_text(doc)
        buttons = (dn.Button("Done", on_pressed=lambda: self._answer(Answer(pid, "done"))),
                   dn.Button(f"Snooze {SNOOZE_MIN:g} min",
                             on_pressed=lambda: self._answer(Answer(pid, "snooze", SNOOZE_MIN))),
                   dn.Button("Pain...", on_pressed=lambda: self._ask_pain(pid)))
        note = dn.Notification(title, body, urgency=dn.Urgency[_URGENCY[doc["urgency"]]],
                               buttons=buttons, on_dismissed=lambda: self._answer(Answer(pid, "dismiss")))
        await self._notifier.send_notification(note)
        self._shown[doc["kind"]] = (pid, note.identifier)
        self._none_shown.clear()
        delay = max(0.0, from_iso(doc["expires"]) - self._clock())
        self._expiry[pid] = self._loop.call_later(delay, lambda: self._loop.create_task(self._withdraw(pid)))

    async def _withdraw(self, prompt_id: str) -> None:
        nid = self._forget(prompt_id)
        if nid is not None:
            await self._notifier.clear(nid)

    def _ask_pain(self, prompt_id: str) -> None:
        self._forget(prompt_id)  # the platform closed it when the button was pressed
        dn = self._dn
        buttons = tuple(dn.Button(label, on_pressed=lambda n=n: self._answer(Answer(prompt_id, "pain", pain=n)))
                        for n, label in PAIN_CHOICES)
        self._loop.create_task(self._notifier.send_notification(
            dn.Notification("sitload: How bad is the pain now?", "0 = none, 10 = the worst you can imagine",
                            buttons=buttons)))

    def _answer(self, answer: Answer) -> None:
        if answer.action != "pain":
            self._forget(answer.prompt_id)  # pressed or dismissed: the platform closed it
        try:
            self._on_answer(answer)
        except Exception:  # a failing handler must not stop the loop that delivers the next press
            log.exception("answering prompt %s failed", answer.prompt_id)

    def _forget(self, prompt_id: str) -> str | None:
        """Stop tracking a prompt's notification; its notification id, if it was shown."""
        handle = self._expiry.pop(prompt_id, None)
        if handle is not None:
            handle.cancel()
        for kind, (pid, nid) in list(self._shown.items()):
            if pid == prompt_id:
                del self._shown[kind]
                if not self._shown:
                    self._none_shown.set()
                return nid
        return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
