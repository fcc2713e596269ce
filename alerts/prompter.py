"""The patient-side prompter: shows each prompt once, sends acks, snoozes and pain reports back."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from sitload.alerts.messages import AckMessage, SymptomReport, presence_payload
from sitload.alerts.broker import BrokerOptions
from sitload.alerts.connection import MqttConnection, new_client_id
from sitload.alerts.desktop import open_desktop, state_of
from sitload.alerts.stretches import stretch_lines
from sitload.alerts.topics import DEFAULT_PREFIX, Topics
from sitload.timestamps import from_iso
from sitload.errors import ConfigError

log = logging.getLogger(__name__)

HELP = "a = done it, k = ok, s [min] = snooze, x = dismiss, p N [left|right|both] [note] = pain 0-10, q = quit"
_ACTIONS = {"a": "done", "k": "ack", "s": "snooze", "x": "dismiss"}


class Prompter:
    """An MQTT client for one device's prompts: dedupes by id and drops expired ones.

    It announces itself (retained ``prompter`` topic, last will offline) after subscribing, which is
    what lets the publisher release held prompts to it. ``on_prompt`` (and ``on_state``, the
    device's ``state`` documents) run on the network thread.
    """

    def __init__(self, broker_url: str, device_id: str, *, prefix: str = DEFAULT_PREFIX,
                 broker: BrokerOptions | None = None, on_prompt: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 on_refused: Callable[[str], None] | None = None,
                 on_state: Callable[[dict], None] | None = None) -> None:
        self.topics = Topics(prefix, device_id)
        self._clock = clock
        self._on_prompt = on_prompt
        self._seen: set[str] = set()
        self.prompts: list[dict] = []  # shown, in arrival order
        self.dropped_expired: list[str] = []
        self.conn = MqttConnection(
            broker_url, new_client_id("prompter", device_id), broker,
            will=(self.topics.prompter, lambda: presence_payload("prompter", False, clock())),
            handlers={self.topics.alert: self._handle_alert,
                      **({self.topics.state: on_state} if on_state else {})}, on_connected=self._connected, on_refused=on_refused)
        self.conn.start()

    def ack(self, prompt_id: str, action: str, minutes: float | None = None) -> bool:
        """Answer a prompt ('ack', 'done', 'dismiss', 'snooze'); False when the broker is away."""
        msg = AckMessage(prompt_id, action, minutes, self._clock())
        return self.conn.publish(self.topics.ack, msg.to_json(), qos=1) is not None

    def report(self, report: SymptomReport) -> bool:
        """Send a pain report; False when the broker is away."""
        return self.conn.publish(self.topics.symptom, report.to_json(), qos=1) is not None

    def answer(self, message: AckMessage | SymptomReport) -> bool:
        """Send an answer given elsewhere (a desktop notification's button); False when the broker is away."""
        if isinstance(message, SymptomReport):
            return self.report(message)
        return self.ack(message.prompt_id, message.action, message.minutes)

    def close(self) -> None:
        self.conn.close(last_words=(self.topics.prompter, presence_payload("prompter", False, self._clock())))

    @property
    def rejected(self) -> list[tuple[str, str]]:
        return self.conn.rejected

    def _connected(self) -> None:
        self.conn.publish(self.topics.prompter, presence_payload("prompter", True, self._clock()), qos=1, retain=True)

    def _handle_alert(self, doc: dict) -> None:
        if doc["id"] in self._seen:
            return
        self._seen.add(doc["id"])
        if from_iso(doc["expires"]) <= self._clock():
            log.info("prompt %s arrived after it expired (%s); not shown", doc["id"], doc["expires"])
            self.dropped_expired.append(doc["id"])
            return
        self.prompts.append(doc)
        if self._on_prompt is not None:
            self._on_prompt(doc)


@dataclass(frozen=True)
class Command:
    """One parsed line typed at the prompter."""

    verb: str  # 'ack' | 'done' | 'dismiss' | 'snooze' | 'pain' | 'quit'
    minutes: float | None = None
    pain: int | None = None
    side: str | None = None
    note: str | None = None


def parse_command(line: str) -> Command:
    """Parse ``a``, ``k``, ``x``, ``s [min]``, ``p N [side] [note]`` or ``q``; ValueError says what is wrong."""
    words = line.split()
    if not words:
        raise ValueError("empty command")
    head, rest = words[0].lower(), words[1:]
    if head == "q":
        return Command("quit")
    if head in _ACTIONS and head != "s":
        return Command(_ACTIONS[head])
    if head == "s":
        minutes = float(rest[0]) if rest else None
        if minutes is not None and not 0 < minutes <= 240:
            raise ValueError("snooze minutes must be in (0, 240]")
        return Command("snooze", minutes=minutes)
    if head == "p":
        if not rest or not rest[0].isdigit() or not 0 <= int(rest[0]) <= 10:
            raise ValueError("pain needs a whole number 0-10, e.g. 'p 6 left'")
        side = rest[1].lower() if len(rest) > 1 and rest[1].lower() in ("left", "right", "both") else None
        note = " ".join(rest[2:] if side else rest[1:]) or None
        return Command("pain", pain=int(rest[0]), side=side, note=note)
    raise ValueError(f"unknown command {head!r} ({HELP})")


def format_prompt(doc: dict) -> str:
    """The text shown for one alert document."""
    mark = {"high": "!!", "normal": "!", "low": "·"}[doc["urgency"]]
    lines = [f"{mark} [{doc['kind']}] {doc['message']}"]
    stretch = doc.get("stretch")
    if stretch:
        head, *steps = stretch_lines(stretch)
        lines += [f"   {head}", *(f"     {step}" for step in steps)]
    return "\n".join(lines)


def run_prompter(broker_url: str, device_id: str, *, out: TextIO = sys.stdout, interactive: bool = False,
                 stop_event: threading.Event | None = None, max_prompts: int | None = None,
                 input: TextIO = sys.stdin, notify: bool = False, timeout_s: float | None = None,
                 prefix: str = DEFAULT_PREFIX, broker: BrokerOptions | None = None) -> list[dict]:
    """Show prompts until ``stop_event``, ``max_prompts`` shown, ``timeout_s`` or 'q'; returns those shown.

    Interactive mode reads commands from ``input`` (see ``HELP``); they apply to the latest prompt.
    ``prefix`` and ``broker`` (how to connect) are the ``Prompter``'s. A broker that
    refuses the login ends it at once with a ConfigError (retrying would not help). ``notify``
    also shows each prompt as a desktop notification (sitload.alerts.desktop), withdrawn when it
    expires or the device's state shows it done, and answered by its buttons; without a
    notification service it says so on ``out`` and only prints.
    """
    done = stop_event or threading.Event()
    lock = threading.Lock()
    refusal: list[str] = []

    def refused(reason: str) -> None:
        refusal.append(reason)
        done.set()

    def show(doc: dict) -> None:
        with lock:
            print(format_prompt(doc), file=out, flush=True)
            if interactive:
                print(f"   ({HELP})", file=out, flush=True)
        if desktop is not None:
            desktop.show(doc)
        if max_prompts is not None and len(prompter.prompts) >= max_prompts:
            done.set()

    desktop = open_desktop(lambda answer: prompter.answer(answer.message(time.time())), out) if notify else None
    prompter = Prompter(broker_url, device_id, prefix=prefix, broker=broker, on_prompt=show, on_refused=refused,
                        on_state=(lambda doc: desktop.withdraw_done(*state_of(doc))) if desktop is not None else None)
    if interactive:
        threading.Thread(target=_read_commands, args=(prompter, input, out, lock, done), daemon=True).start()
    try:
        done.wait(timeout_s)
    finally:
        prompter.close()
        if desktop is not None:
            desktop.close()
    if refusal:
        raise ConfigError(refusal[0])
    return list(prompter.prompts)


def _read_commands(prompter: Prompter, input: TextIO, out: TextIO, lock: threading.Lock,
                   done: threading.Event) -> None:
    for line in input:
        if done.is_set():
            return
        if not line.strip():
            continue
        try:
            cmd = parse_command(line)
        except ValueError as exc:
            with lock:
                print(f"   ? {exc}", file=out, flush=True)
            continue
        if cmd.verb == "quit":
            done.set()
            return
        if cmd.verb == "pain":
            sent = prompter.report(SymptomReport.new(cmd.pain, time.time(), side=cmd.side, note=cmd.note))
            reply = f"pain {cmd.pain} reported" if sent else "not connected; pain report not sent"
        elif not prompter.prompts:
            reply = "no prompt to answer yet"
        else:
            latest = prompter.prompts[-1]
            sent = prompter.ack(latest["id"], cmd.verb, cmd.minutes)
            reply = f"{cmd.verb} sent" if sent else f"not connected; {cmd.verb} not sent"
        with lock:
            print(f"   {reply}", file=out, flush=True)
    done.set()  # end of input ends an interactive session


def discover_devices(broker_url: str, *, prefix: str = DEFAULT_PREFIX, wait_s: float = 2.0,
                     broker: BrokerOptions | None = None) -> list[str]:
    """Device ids whose retained ``status`` says online, as seen within ``wait_s``; ConfigError
    when the broker cannot be reached or refuses the login."""
    online: dict[str, bool] = {}

    def seen(doc: dict, device: str) -> None:
        online[device] = bool(doc.get("online"))

    conn = MqttConnection(broker_url, new_client_id("discover"), broker,
                          wildcards={f"{prefix}/+/status": seen},
                          on_refused=lambda reason: None)  # raised below, said once
    conn.start()
    try:
        time.sleep(wait_s)
        reached = conn.connected
    finally:
        conn.close()
    if conn.refused:
        raise ConfigError(conn.refused)
    if not reached:
        raise ConfigError(f"cannot reach the MQTT broker at {broker_url}")
    return sorted(device for device, up in online.items() if up)
