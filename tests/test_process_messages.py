"""Messages between forked processes: pickles whose arrays travel in an anonymous shared file."""

import mmap
import os

import numpy as np
import pandas as pd
import pytest

from sitload import process_messages

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux only (memfd)")


def sent(message: object) -> object:
    """``message`` sent and received again, then the end of messages as the sender closes (the
    socket holds the message and its file's descriptor meanwhile, so one process can do both)."""
    ours, theirs = process_messages.pair()
    with ours:
        with theirs:
            process_messages.send(theirs, message)
        got = process_messages.receive(ours)
        with pytest.raises(EOFError):
            process_messages.receive(ours)
    return got


def mapped(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, (memoryview, mmap.mmap))


def test_arrays_arrive_equal_writable_and_over_the_shared_file():
    rng = np.random.default_rng(7)
    samples = rng.normal(size=(1000, 6))
    message = {"t": np.arange(1000) / 50.0, "accel": samples[:, :3], "ids": np.arange(5),
               "empty": np.zeros((0, 3)), "name": "thigh", "n": 3}
    got = sent(message)
    assert got["name"] == "thigh" and got["n"] == 3
    for key in ("t", "accel", "ids", "empty"):
        assert got[key].dtype == message[key].dtype and np.array_equal(got[key], message[key])
    assert mapped(got["t"]) and mapped(got["ids"])       # not copied on the way
    assert not mapped(got["accel"])     # a view across rows travels inside the pickle
    got["t"][0] = -1.0                  # the receiver's own copy-on-write mapping
    assert got["t"][0] == -1.0


def test_a_table_with_text_and_numbers_arrives_whole():
    frame = pd.DataFrame({"t": np.arange(300.0), "posture": ["sitting", "standing", "gap"] * 100,
                          "n": np.arange(300)})
    got = sent(("done", 1, frame))
    assert got[:2] == ("done", 1)
    pd.testing.assert_frame_equal(got[2], frame)


def test_a_closed_sender_is_an_end_of_messages():
    ours, theirs = process_messages.pair()
    theirs.close()
    with pytest.raises(EOFError):
        process_messages.receive(ours)
    ours.close()


def test_messages_come_in_the_order_sent():
    ours, theirs = process_messages.pair()
    for i in range(3):
        process_messages.send(theirs, ("progress", i, np.full(4, float(i))))
    got = [process_messages.receive(ours) for _ in range(3)]
    assert [(what, i, list(a)) for what, i, a in got] == [("progress", i, [float(i)] * 4)
                                                          for i in range(3)]
    ours.close()
    theirs.close()
