"""Host decoder against the golden vectors, and against malformed input."""

import numpy as np
import pytest

from golden import golden
from sitload.sensor_ingest.frame_codec import (ImuFrame, MatFragment, crc16_ccitt_false, decode_frame,
                                       parse_calibration, parse_config)
from sitload.errors import FrameError


@pytest.mark.parametrize("vector", golden("frame"), ids=lambda v: v["hex"][:16])
def test_golden_frames_decode(vector):
    want = vector["decoded"]
    frame = decode_frame(bytes.fromhex(vector["hex"]))
    h = frame.header
    assert (int(h.kind), h.flags, h.count, h.seq, h.ticks, h.rate_hz) == (
        want["kind"], want["flags"], want["count"], want["seq"], want["ticks"], want["rate_hz"])
    assert [h.frag_index, h.frag_count] == want["frag"]
    if isinstance(frame, ImuFrame):
        np.testing.assert_allclose(frame.accel, want["accel_g"])
        if want["gyro_dps"] is None:
            assert frame.gyro is None
        else:
            np.testing.assert_allclose(frame.gyro, want["gyro_dps"])
    else:
        assert isinstance(frame, MatFragment)
        assert (frame.rows, frame.cols, frame.first) == (want["rows"], want["cols"], want["first"])
        assert list(frame.cells) == want["cells"]


def test_golden_config_and_calibration():
    for vector in golden("config"):
        cfg = parse_config(bytes.fromhex(vector["hex"]))
        want = vector["decoded"]
        assert (int(cfg.kind), cfg.placement, cfg.side, cfg.rate_hz, cfg.accel_range_g,
                cfg.gyro_range_dps, cfg.rows, cfg.cols, cfg.per_frame, cfg.running) == (
            want["kind"], want["placement"], want["side"], want["rate_hz"], want["accel_range_g"],
            want["gyro_range_dps"], want["rows"], want["cols"], want["per_frame"], want["running"])
    for vector in golden("calibration"):
        gain = parse_calibration(bytes.fromhex(vector["hex"]))
        np.testing.assert_allclose(gain, vector["decoded"]["gain_kpa_per_count"])


def test_crc_is_ccitt_false():
    # The standard check value of CRC-16/CCITT-FALSE.
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def _valid() -> bytes:
    return bytes.fromhex(golden("frame")[0]["hex"])


def _recrc(body: bytes) -> bytes:
    return body + crc16_ccitt_false(body).to_bytes(2, "little")


@pytest.mark.parametrize("mangle, message, offset", [
    (lambda b: b[:10], "truncated frame", 10),
    (lambda b: b[:-3] + bytes([b[-3] ^ 0xFF]) + b[-2:], "bad CRC", None),
    (lambda b: _recrc(bytes([2]) + b[1:-2]), "unknown protocol version 2", 0),
    (lambda b: _recrc(b[:1] + bytes([9]) + b[2:-2]), "unknown sensor kind 9", 1),
    (lambda b: _recrc(b[:3] + bytes([3]) + b[4:-2]), "IMU payload is 24 bytes, header says 36", None),
    (lambda b: _recrc(b[:14] + bytes([0x37]) + b[15:-2]), "bad range codes 7/3", 14),
    (lambda b: b + bytes(240), "oversized frame", 244),
])
def test_malformed_frames_name_what_and_where(mangle, message, offset):
    with pytest.raises(FrameError) as info:
        decode_frame(mangle(_valid()))
    assert message in str(info.value)
    if offset is not None:
        assert info.value.offset == offset
    assert "byte offset" in str(info.value)
