"""A device's batches read and decoded on a forked process while this one analyses the batches
before them.

Reading and decoding a week of frames takes about half as long as analysing it, and the two
cannot share one interpreter (a thread would wait on the other for the GIL). So ``batches`` forks
a process that replays the device through its own open of the recording. The batches of each page
of frames it reads travel in one anonymous shared file (``memfd``): their arrays, then a pickle
saying where each lies. The file's descriptor is passed over a Unix socket, and this process maps
the file copy-on-write and makes its arrays over the mapping, without copying the samples; the
file is gone once no array uses it. At most ``AHEAD`` pages wait for this process, so memory stays
bounded. At the end the decoding process sends what its decoder and recording learnt on the way
(counts, gaps, damage), which are set on this process's replay, so what follows reads them as
after an ordinary replay. An error of the replay is raised here, where the batches are taken. The
batches are the same samples, bit for bit; only who decodes them changes.

Forking needs Linux, a process with no other thread (sitload.forking) and a second CPU;
otherwise the replay decodes in this process.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import pickle
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from sitload.errors import RecordingError
from sitload.forking import may_fork, portable, starting_workers, worker_start
from sitload.samples import SampleBatch
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay

AHEAD = 2                        # pages decoded and not yet taken, at most
ARRAYS = ("t", "accel", "gyro", "pressure")     # SampleBatch's arrays
_HEAD = struct.Struct("<QQ")     # where the pickle starts in the file, the file's size
_ALIGN = 64


def may_read_ahead() -> bool:
    """Whether a second process can decode here (see the module notes)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return may_fork() and (cpus or 1) > 1 and hasattr(os, "memfd_create")


def batches(replay: DeviceReplay, progress: Callable[[float], None] | None = None
            ) -> Iterator[SampleBatch]:
    """``replay.batches(progress=progress)``, decoded on a forked process where one may be;
    the replay's decoder ``stats`` and ``gaps`` and its recording's damage are set once the last
    batch is taken."""
    if not may_read_ahead():
        yield from replay.batches(progress=progress)
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = multiprocessing.get_context("fork").Process(
        target=_decode, args=(str(replay.rec.path), replay.device.id, theirs, ours),
        daemon=True)
    try:
        with starting_workers():
            proc.start()
        theirs.close()
        while True:
            what, value = _receive(ours, replay, proc)
            if what == "page":
                found, share = value
                yield from found
                if progress is not None and share is not None:
                    progress(share)
            elif what == "error":
                raise value
            else:
                stats, gaps, damage, damaged, first_damaged = value
                replay.decoder.stats, replay.decoder.gaps = stats, gaps
                replay.rec.damage, replay.rec.damaged_frames = damage, damaged
                replay.rec.first_damaged_frame = first_damaged
                return
    finally:
        ours.close()
        theirs.close()
        if proc.pid is not None:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _receive(sock: socket.socket, replay: DeviceReplay, proc) -> tuple:
    """The next message: its file mapped copy-on-write, its arrays made over the mapping."""
    try:
        head, fds, _, _ = socket.recv_fds(sock, _HEAD.size, 1)
    except ConnectionResetError:    # it ended with pages not yet taken
        head, fds = b"", []
    if not head:
        proc.join()
        raise RecordingError(f"{replay.rec.path}: the process decoding it ended early (exit "
                             f"code {proc.exitcode})")
    try:
        start, size = _HEAD.unpack(head)
        mapped = mmap.mmap(fds[0], size, flags=mmap.MAP_PRIVATE)
    finally:
        for fd in fds:
            os.close(fd)
    what, value = pickle.loads(mapped[start:size])
    if what != "page":
        return what, value
    try:
        sock.send(b"k")     # taken: the decoding process may go on
    except OSError:         # it has ended: the next message says how
        pass
    metas, share = value
    found = [replace(batch, **{name: np.ndarray(shape, dtype, buffer=mapped, offset=offset)
                               for name, (offset, dtype, shape) in where.items()})
             for batch, where in metas]
    return what, (found, share)


def _decode(path: str, device_id: int, sock: socket.socket, other_end: socket.socket) -> None:
    """The forked process: replay the device and send each page's batches as they are decoded
    (``other_end`` is closed here: its reader's end of the socket, which this process would
    otherwise keep open, and wait on, once the reader has ended)."""
    other_end.close()
    worker_start()
    sent = [0, 0]    # pages sent, and taken
    try:
        with Recording(path) as rec:
            replay = DeviceReplay.of(rec, device_id)
            page: list[SampleBatch] = []

            def page_read(share: float) -> None:
                _send(sock, "page", page, share, sent)
                page.clear()

            for batch in replay.batches(progress=page_read):
                page.append(batch)
            if page:
                _send(sock, "page", page, None, sent)
            _send(sock, "end", [], (replay.decoder.stats, replay.decoder.gaps, rec.damage,
                                    rec.damaged_frames, rec.first_damaged_frame), sent)
    except (BrokenPipeError, ConnectionResetError):     # the command stopped taking batches
        return
    except Exception as exc:  # noqa: BLE001 - raised where the batches are taken
        with contextlib.suppress(OSError):      # unless the reader has ended
            _send(sock, "error", [], portable(exc, path), sent)
    finally:
        # every page is taken before the socket closes: a socket closed with its acks unread
        # would reset the connection, and the last message would be lost
        try:
            while sent[1] < sent[0] and sock.recv(1):
                sent[1] += 1
        except OSError:     # the reader has ended
            pass
        sock.close()


def _send(sock: socket.socket, what: str, page: list[SampleBatch], value, sent: list[int]
          ) -> None:
    """One message in a new anonymous file: the page's arrays, then a pickle of what it is, of
    the batches without their arrays and where each array lies, and of ``value``. Waits while
    AHEAD pages are not taken."""
    while sent[0] - sent[1] >= AHEAD:
        if not sock.recv(1):
            raise BrokenPipeError
        sent[1] += 1
    fd = os.memfd_create("sitload-batches", os.MFD_CLOEXEC)
    try:
        metas, offset = [], 0
        for batch in page:
            where = {}
            for name in ARRAYS:
                values = getattr(batch, name)
                if values is None:
                    continue
                values = np.ascontiguousarray(values)
                os.pwrite(fd, values.reshape(-1).view(np.uint8), offset)
                where[name] = (offset, values.dtype.str, values.shape)
                offset += -(-values.nbytes // _ALIGN) * _ALIGN
            metas.append((replace(batch, **dict.fromkeys(where)), where))
        text = pickle.dumps((what, (metas, value) if what == "page" else value),
                            protocol=pickle.HIGHEST_PROTOCOL)
        os.pwrite(fd, text, offset)
        socket.send_fds(sock, [_HEAD.pack(offset, offset + len(text))], [fd])
    finally:
        os.close(fd)
    sent[0] += what == "page"
