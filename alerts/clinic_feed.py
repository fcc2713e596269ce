"""The clinic's subscription: every patient's documents under a prefix, kept on a ClinicBoard.

The clinic reads only (docs/security.md gives it a user whose ACL allows nothing else); it never
publishes, so it has no last will and no presence of its own. It subscribes at QoS 0: a view
needs no acknowledgements, and the retained documents of every patient, sent at once when it
subscribes, are then not held to the broker's per-client queue of QoS 1 messages (Mosquitto's
``max_queued_messages``, 1000 by default, would drop all but the first thousand or so), nor does
the broker wait for a PUBACK per message. What it misses while disconnected, the retained
documents give again on the reconnect; prompts and answers of that time are not shown. The board is read by other threads
(the terminal table, the web page), so every access goes through one lock, and readers can wait
for the next change.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable

from sitload.alerts.broker import BrokerOptions
from sitload.alerts.clinic_board import TOPIC_NAMES, ClinicBoard, PatientRow
from sitload.alerts.connection import MqttConnection, new_client_id
from sitload.alerts.topics import DEFAULT_PREFIX
from sitload.vocab import ClinicSort


class ClinicFeed:
    """Subscribes to ``<prefix>/+/{status,availability,prompter,state,alert,ack}`` and keeps the
    board. Rows handed out are copies as of that moment (``to_json`` documents)."""

    def __init__(self, broker_url: str, *, prefix: str = DEFAULT_PREFIX, broker: BrokerOptions | None = None,
                 board: ClinicBoard | None = None, clock: Callable[[], float] = time.time,
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.board = board or ClinicBoard()
        self._clock = clock
        self._changed = threading.Condition()
        self.conn = MqttConnection(
            broker_url, new_client_id("clinic"), broker,
            wildcards={f"{prefix}/+/{name}": self._handler(name) for name in TOPIC_NAMES},
            on_refused=on_refused, subscribe_qos=0)

    def start(self) -> None:
        self.conn.start()

    def close(self) -> None:
        self.conn.close()

    def snapshot(self, sort: ClinicSort = ClinicSort.DEVICE) -> tuple[int, list[dict]]:
        """(version, every row) at one moment."""
        with self._changed:
            return self.board.version, [row.to_json() for row in self.board.rows(sort)]

    def rows(self, sort: ClinicSort = ClinicSort.DEVICE) -> list[PatientRow]:
        with self._changed:
            return copy.deepcopy(self.board.rows(sort))

    def wait_changes(self, since: int, timeout_s: float) -> tuple[int, list[dict]]:
        """(version, rows changed after ``since``), waiting up to ``timeout_s`` for a change."""
        with self._changed:
            self._changed.wait_for(lambda: self.board.version > since, timeout=timeout_s)
            return self.board.version, [row.to_json() for row in self.board.changed_since(since)]

    def _handler(self, name: str) -> Callable[[dict, str], None]:
        def apply(doc: dict, device: str) -> None:
            with self._changed:
                self.board.apply(name, device, doc, self._clock())
                self._changed.notify_all()
        return apply
