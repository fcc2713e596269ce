"""A private D-Bus session bus (a real dbus-daemon) with a real freedesktop notification server on
it, written on dbus-fast, that records what it is asked and can press a notification's buttons.

python-dbusmock's notification-daemon template is not enough here: its introspection lists no
signals, so desktop-notifier never subscribes to ActionInvoked and a button press could not be
tested through it.
"""

import asyncio
import subprocess
import threading
from dataclasses import dataclass

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_method, dbus_signal

CAPABILITIES = ["actions", "body", "persistence"]


@dataclass(frozen=True)
class Shown:
    """One Notify call."""

    id: int
    replaces_id: int
    app_name: str
    title: str
    body: str
    actions: dict[str, str]  # action key -> button label
    urgency: int | None


class NotificationServer(ServiceInterface):
    """org.freedesktop.Notifications as notification-daemon implements it (spec 1.2)."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: list[Shown] = []
        self.closed: list[int] = []  # ids given to CloseNotification
        self.open: set[int] = set()
        self._next = 1

    @dbus_method()
    def GetCapabilities(self) -> "as":  # noqa: F722 (D-Bus signatures)
        return CAPABILITIES

    @dbus_method()
    def GetServerInformation(self) -> "ssss":  # noqa: F722
        return ["sitload-test-notifyd", "sitload", "1.0", "1.2"]

    @dbus_method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s", body: "s",  # noqa: F821
               actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":  # noqa: F722,F821
        nid = replaces_id or self._next
        self._next += not replaces_id
        urgency = hints.get("urgency")
        self.shown.append(Shown(nid, replaces_id, app_name, summary, body,
                                dict(zip(actions[::2], actions[1::2])),
                                None if urgency is None else urgency.value))
        self.open.add(nid)
        return nid

    @dbus_method()
    def CloseNotification(self, id: "u") -> None:  # noqa: F821
        self.closed.append(id)
        if id in self.open:
            self.open.discard(id)
            self.NotificationClosed(id, 3)

    @dbus_signal()
    def NotificationClosed(self, id: "u", reason: "u") -> "uu":  # noqa: F821
        return [id, reason]

    @dbus_signal()
    def ActionInvoked(self, id: "u", action_key: "s") -> "us":  # noqa: F821
        return [id, action_key]


class SessionBus:
    """A dbus-daemon of its own, and (``serve()``) the notification server on it in a thread."""

    def __init__(self, dbus_daemon: str) -> None:
        self.proc = subprocess.Popen([dbus_daemon, "--session", "--nofork", "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        self.server = NotificationServer()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def serve(self) -> None:
        async def start() -> None:
            self._bus = await MessageBus(bus_address=self.address).connect()
            self._bus.export("/org/freedesktop/Notifications", self.server)
            await self._bus.request_name("org.freedesktop.Notifications")
        self._call(start())

    def press(self, nid: int, action_key: str) -> None:
        """The patient presses a button: ActionInvoked, then the server closes the notification
        (reason 2, dismissed by the user) as notification-daemon does."""
        async def press() -> None:
            self.server.ActionInvoked(nid, action_key)
            self.server.open.discard(nid)
            self.server.NotificationClosed(nid, 2)
        self._call(press())

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def stop(self) -> None:
        if hasattr(self, "_bus"):
            self._loop.call_soon_threadsafe(self._bus.disconnect)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.proc.terminate()
        self.proc.wait(5)
