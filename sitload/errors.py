"""The one error hierarchy of sitload.

Every error a user can cause (bad file, bad frame, bad argument, bad message) is a ``SitloadError``;
the CLI prints its one-line message and exits 1, or 2 for a ``UsageError`` (a value given on the
command line). Anything else is a bug and keeps its traceback.
"""


class SitloadError(Exception):
    """Base of every error sitload reports to a user."""


class FrameError(SitloadError):
    """A BLE frame that cannot be decoded (bad version, truncated, bad CRC, bad fields)."""

    def __init__(self, message: str, *, seq: int | None = None, offset: int | None = None):
        where = []
        if seq is not None:
            where.append(f"seq {seq}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.seq = seq
        self.offset = offset


class RecordingError(SitloadError):
    """A recording file that is missing, not a sitload recording, or of an unknown version."""


class ImportDataError(SitloadError):
    """A foreign data file (e.g. CSV) with bad content; the message names the line."""


class ConfigError(SitloadError):
    """A setting or command-line value that is out of range or malformed."""


class UsageError(ConfigError):
    """A value given on the command line that is out of range or malformed (exit 2, as argparse
    exits for the values it checks itself)."""


class MessageError(SitloadError):
    """An inbound MQTT message that is malformed, oversized or of the wrong schema."""


class BluetoothError(SitloadError):
    """No usable Bluetooth adapter, or a sensor that cannot be found or read."""


class NotificationError(SitloadError):
    """No desktop notification service to show prompts with (no desktop session, no notification
    server, or the optional desktop-notifier package missing)."""
