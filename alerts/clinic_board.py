"""The clinic's board: one row per patient, kept from the MQTT documents of every patient (pure).

Built from each patient's retained ``status``, ``availability``, ``prompter`` and ``state``
documents and the ``alert`` and ``ack`` traffic (docs/mqtt-api.md). Whether the last prompt was
acted on follows the one rule the policy and the report share (``sitload.alerts.adherence``): a
'done' answer, or a state inside the adherence window that shows what the prompt asked for. The
window is judged on the patient's own clock (the ``created`` times of their documents), so a
replayed day is judged as it was lived: a prompt is "not acted on" once a document of that patient
is created after its window without the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sitload.alerts.adherence import in_window, state_shows_change
from sitload.alerts.policy import PolicyConfig
from sitload.timestamps import from_iso
from sitload.vocab import AckAction, ClinicSort, Posture, Side

TOPIC_NAMES = ("status", "availability", "prompter", "state", "alert", "ack")  # what the board reads


@dataclass
class LastPrompt:
    """A patient's latest prompt and what came of it."""

    id: str
    kind: str
    created: float
    urgency: str
    answer: str | None = None  # the patient's latest answer: ack, done, snooze, dismiss
    acted_on: bool | None = None  # None while its adherence window is open


@dataclass
class PatientRow:
    """What the clinic knows of one patient; None where nothing has been heard yet."""

    device: str
    online: bool | None = None  # the gateway (``status``)
    sensor_online: bool | None = None  # the sensor's BLE link (``availability``)
    battery: int | None = None  # percent
    prompter_online: bool | None = None  # the patient's prompter (``prompter``)
    posture: str | None = None
    bout_minutes: float | None = None  # of the sitting bout going on; None when not sitting
    sitting_today_min: float | None = None
    asymmetry_si: float | None = None  # seat mats only; percent, + = left loaded more
    lean_side: str | None = None
    crossed: str | None = None
    state_time: float | None = None  # ``created`` of the latest state (the patient's clock)
    last_prompt: LastPrompt | None = None
    updated: float | None = None  # when the clinic last heard of this patient (its own clock)
    version: int = field(default=0, repr=False)  # the board's version when the row last changed

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key != "version"}


def _nones_last(key: Callable[[PatientRow], object]) -> Callable[[PatientRow], tuple]:
    def sort_key(row: PatientRow) -> tuple:
        value = key(row)
        return (value is None, value if value is not None else 0, row.device)
    return sort_key


SORT_KEYS: dict[ClinicSort, Callable[[PatientRow], tuple]] = {
    ClinicSort.DEVICE: lambda row: (row.device,),
    ClinicSort.ONLINE: _nones_last(lambda row: row.online),
    ClinicSort.POSTURE: _nones_last(lambda row: row.posture),
    ClinicSort.BOUT: _nones_last(lambda row: -row.bout_minutes if row.bout_minutes is not None else None),
    ClinicSort.TODAY: _nones_last(lambda row: -row.sitting_today_min if row.sitting_today_min is not None
                                  else None),
    ClinicSort.ASYMMETRY: _nones_last(lambda row: -abs(row.asymmetry_si) if row.asymmetry_si is not None
                                      else None),
    ClinicSort.BATTERY: _nones_last(lambda row: row.battery),
    ClinicSort.PROMPT: _nones_last(lambda row: -row.last_prompt.created if row.last_prompt else None),
    ClinicSort.UPDATED: _nones_last(lambda row: -row.updated if row.updated is not None else None),
}
"""How the board sorts (``ClinicSort``): the most telling first; patients not heard of on that
column last; ties by device."""


class ClinicBoard:
    """Rows of every patient heard of. ``apply`` one document at a time; ``version`` counts
    changes, and ``changed_since`` gives the rows changed after a version a reader saw."""

    def __init__(self, adherence_window_min: float = PolicyConfig.adherence_window_min) -> None:
        self.window_s = 60.0 * adherence_window_min
        self.version = 0
        self._rows: dict[str, PatientRow] = {}

    def apply(self, name: str, device: str, doc: dict, received: float) -> None:
        """One validated document of ``device`` on topic ``name`` (one of ``TOPIC_NAMES``),
        received at ``received`` (epoch s)."""
        row = self._rows.get(device) or self._rows.setdefault(device, PatientRow(device))
        created = from_iso(doc["created"]) if "created" in doc else None
        if name == "status":
            row.online = doc["online"]
        elif name == "availability":
            row.sensor_online = doc["online"]
            row.battery = doc.get("battery", row.battery)
        elif name == "prompter":
            row.prompter_online = doc["online"]
        elif name == "state":
            self._state(row, doc, created)
        elif name == "alert" and (row.last_prompt is None or created > row.last_prompt.created):
            row.last_prompt = LastPrompt(doc["id"], doc["kind"], created, doc["urgency"])  # not a resend
        elif name == "ack":
            self._answer(row, doc)
        if created is not None:
            self._close_window(row, created)
        row.updated = received
        self.version += 1
        row.version = self.version

    def rows(self, sort: str = ClinicSort.DEVICE) -> list[PatientRow]:
        """Every row, sorted by one of ``SORT_KEYS``."""
        return sorted(self._rows.values(), key=SORT_KEYS[sort])

    def changed_since(self, version: int) -> list[PatientRow]:
        return [row for row in self._rows.values() if row.version > version]

    def _state(self, row: PatientRow, doc: dict, created: float) -> None:
        row.posture, row.bout_minutes = doc["posture"], doc["bout_minutes"]
        row.sitting_today_min, row.asymmetry_si = doc["sitting_today_min"], doc["asymmetry_si"]
        row.lean_side, row.crossed = doc["lean_side"], doc["crossed"]
        row.state_time = created
        prompt = row.last_prompt
        if prompt is not None and prompt.acted_on is None and in_window(prompt.created, created, self.window_s):
            crossed = None if doc["crossed"] is None else Side.from_wire(doc["crossed"])
            if state_shows_change(prompt.kind, Posture.from_wire(doc["posture"]),
                                  Side.from_wire(doc["lean_side"]), crossed):
                prompt.acted_on = True

    def _answer(self, row: PatientRow, doc: dict) -> None:
        prompt = row.last_prompt
        if prompt is None or doc["id"] != prompt.id:
            return  # an answer to an older prompt
        prompt.answer = doc["action"]
        answered = from_iso(doc["time"]) if "time" in doc else prompt.created
        if doc["action"] == AckAction.DONE and prompt.acted_on is None and in_window(prompt.created, answered,
                                                                                     self.window_s):
            prompt.acted_on = True

    def _close_window(self, row: PatientRow, created: float) -> None:
        prompt = row.last_prompt
        if prompt is not None and prompt.acted_on is None and created >= prompt.created + self.window_s:
            prompt.acted_on = False
