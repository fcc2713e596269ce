"""firmware_sim.frame_encoder against docs/protocol.md, cross-checked with the host decoder."""

import binascii
import struct

import numpy as np
import pytest

from golden import golden
from sitload.firmware_sim.frame_encoder import (FLAG_HAS_GYRO, FLAG_LOW_BATTERY, FLAG_RESYNC, NO_GYRO,
                                        ConfigRecord, crc16_rows, encode_calibration_record,
                                        encode_imu_frames, encode_mat_scans, fragment_cells,
                                        quantize)
from sitload.sensor_ingest.frame_codec import ImuFrame, MatFragment, decode_frame
from sitload.errors import FrameError


def test_crc_matches_ccitt_false_reference():
    rows = np.random.default_rng(0).integers(0, 256, (40, 33), dtype=np.uint8)
    expected = [binascii.crc_hqx(r.tobytes(), 0xFFFF) for r in rows]
    assert crc16_rows(rows).tolist() == expected
    # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16_rows(np.frombuffer(b"123456789", np.uint8)[None, :]).tolist() == [0x29B1]


def test_quantize_scales_and_saturates():
    assert quantize(np.array([1.0, -1.0, 0.5, 9.0, -9.0]), 8.0).tolist() == [
        4096, -4096, 2048, 32767, -32768]
    assert quantize(np.array([1.0]), 2000.0).tolist() == [16]  # 16.384 LSB per deg/s


def test_imu_frames_with_gyro_decode_to_the_encoded_values():
    rng = np.random.default_rng(1)
    accel = rng.uniform(-2, 2, (3, 10, 3))
    gyro = rng.uniform(-300, 300, (3, 10, 3))
    frames = encode_imu_frames(1, [7, 8, 9], [100, 6654, 13208], [FLAG_RESYNC, 0, FLAG_LOW_BATTERY],
                               accel, gyro, 500, accel_range=2, gyro_range=3)
    assert [len(f) for f in frames] == [16 + 10 * 12 + 2] * 3
    for i, raw in enumerate(frames):
        frame = decode_frame(raw)
        assert isinstance(frame, ImuFrame)
        h = frame.header
        assert (h.version, int(h.kind), h.count, h.seq, h.rate_dhz) == (1, 1, 10, 7 + i, 500)
        assert h.ranges == 0x32 and (h.frag_index, h.frag_count) == (0, 1)
        assert h.ticks == [100, 6654, 13208][i]
        assert h.flags & FLAG_HAS_GYRO
        np.testing.assert_allclose(frame.accel, accel[i], atol=0.5 / 4096)
        np.testing.assert_allclose(frame.gyro, gyro[i], atol=0.5 / 16.384)
    assert decode_frame(frames[0]).header.flags == FLAG_HAS_GYRO | FLAG_RESYNC
    assert decode_frame(frames[2]).header.flags == FLAG_HAS_GYRO | FLAG_LOW_BATTERY


def test_imu_frame_without_gyro_and_field_layout():
    frames = encode_imu_frames(2, 0xFFFFFFFF + 3, 2**32 + 5, 0, np.array([[[0.0, 0.5, -1.0]]]),
                               None, 250, accel_range=1)
    raw = frames[0]
    assert len(raw) == 16 + 6 + 2
    assert struct.unpack_from("<BBBBIIHBB", raw) == (1, 2, 0, 1, 2, 5, 250, 0x01, 0x01)
    assert struct.unpack_from("<3h", raw, 16) == (0, 4096, -8192)  # ±4 g: 8192 LSB/g
    assert int.from_bytes(raw[-2:], "little") == binascii.crc_hqx(raw[:-2], 0xFFFF)
    frame = decode_frame(raw)
    assert frame.gyro is None
    np.testing.assert_allclose(frame.accel, [[0.0, 0.5, -1.0]])


def test_imu_frame_size_limits():
    frames = encode_imu_frames(1, 0, 0, 0, np.zeros((1, 18, 3)), np.zeros((1, 18, 3)), 500)
    assert len(frames[0]) == 16 + 18 * 12 + 2 == 234
    with pytest.raises(ValueError):
        encode_imu_frames(1, 0, 0, 0, np.zeros((1, 19, 3)), None, 500)


def test_mat_scan_16x16_travels_as_two_fragments_that_reassemble():
    cells = np.random.default_rng(2).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    frames = encode_mat_scans([10, 12, 14], [0, 3277, 6554], [FLAG_RESYNC, 0, 0], cells, 100)
    assert len(frames) == 6
    decoded = [decode_frame(f) for f in frames]
    assert all(isinstance(d, MatFragment) for d in decoded)
    assert [d.header.seq for d in decoded] == [10, 11, 12, 13, 14, 15]
    assert [(d.header.frag_index, d.header.frag_count) for d in decoded] == [(0, 2), (1, 2)] * 3
    assert [d.header.ticks for d in decoded] == [0, 0, 3277, 3277, 6554, 6554]
    assert [d.header.flags for d in decoded] == [FLAG_RESYNC, 0, 0, 0, 0, 0]
    assert [(d.first, len(d.cells)) for d in decoded[:2]] == [(0, 128), (128, 128)]
    for s in range(3):
        scan = np.zeros(256, np.uint8)
        for d in decoded[2 * s:2 * s + 2]:
            assert (d.rows, d.cols, d.header.count, d.header.ranges) == (16, 16, 1, 0)
            scan[d.first:d.first + len(d.cells)] = list(d.cells)
        np.testing.assert_array_equal(scan.reshape(16, 16), cells[s])


def test_fragmenting_rules():
    assert fragment_cells(256) == [(0, 128), (128, 256)]
    assert fragment_cells(222) == [(0, 222)]
    assert fragment_cells(6, 4) == [(0, 4), (4, 6)]
    assert fragment_cells(32 * 32) == [(0, 205), (205, 410), (410, 615), (615, 820),
                                        (820, 1024)]
    frames = encode_mat_scans(0, 0, 0, np.arange(6, dtype=np.uint8).reshape(1, 2, 3), 100, 4)
    assert [list(decode_frame(f).cells) for f in frames] == [[0, 1, 2, 3], [4, 5]]
    assert max(len(f) for f in encode_mat_scans(0, 0, 0, np.zeros((1, 16, 16)), 100)) <= 244


def test_a_flipped_byte_fails_the_crc():
    raw = bytearray(encode_imu_frames(1, 5, 0, 0, np.ones((1, 2, 3)), None, 500)[0])
    raw[16] ^= 0xFF
    with pytest.raises(FrameError, match="CRC"):
        decode_frame(bytes(raw))


def test_config_record_layout():
    rec = ConfigRecord(kind=1, placement=1, side=2, rate_dhz=500, accel_range=2, gyro_range=3,
                       per_frame=10).encode()
    assert len(rec) == 12
    assert struct.unpack("<BBBBHBBBBBB", rec) == (1, 1, 1, 2, 500, 2, 3, 0, 0, 10, 1)
    mat = ConfigRecord(3, 3, 0, 100, 0, NO_GYRO, 16, 16, 1, running=0).encode()
    assert struct.unpack("<BBBBHBBBBBB", mat) == (1, 3, 3, 0, 100, 0, 0xFF, 16, 16, 1, 0)


def test_calibration_record_layout():
    gain = np.arange(256, dtype=np.uint16).reshape(16, 16) + 1900
    rec = encode_calibration_record(gain)
    assert len(rec) == 516
    assert rec[:4] == bytes([1, 16, 16, 0])
    assert struct.unpack_from("<3H", rec, 4) == (1900, 1901, 1902)
    assert struct.unpack_from("<H", rec, 4 + 2 * 255) == (2155,)


# ------------------------------------------------------------ golden vectors (docs/protocol.md)

def test_encoder_reproduces_the_golden_imu_frames():
    vectors = [v for v in golden("frame") if v["decoded"]["kind"] in (1, 2)]
    assert vectors
    for v in vectors:
        want, raw = v["decoded"], bytes.fromhex(v["hex"])
        # range codes are not among the decoded values: take them from the vector's header byte
        gyro = None if want["gyro_dps"] is None else np.array([want["gyro_dps"]], float)
        frame = encode_imu_frames(want["kind"], want["seq"], want["ticks"], want["flags"],
                                  np.array([want["accel_g"]], float), gyro,
                                  round(want["rate_hz"] * 10), raw[14] & 0x0F, raw[14] >> 4)[0]
        assert frame.hex() == v["hex"]


def test_encoder_reproduces_the_golden_mat_fragments():
    fragments = [v for v in golden("frame") if v["decoded"]["kind"] == 3]
    scans: dict[tuple, list] = {}
    for v in fragments:
        scans.setdefault((v["decoded"]["ticks"], v["decoded"]["seq"] - v["decoded"]["frag"][0]),
                         []).append(v)
    assert scans
    for (ticks, first_seq), parts in scans.items():
        parts.sort(key=lambda v: v["decoded"]["frag"][0])
        d0 = parts[0]["decoded"]
        assert len(parts) == d0["frag"][1]
        cells = np.array([c for p in parts for c in p["decoded"]["cells"]], np.uint8)
        frames = encode_mat_scans(first_seq, ticks, d0["flags"],
                                  cells.reshape(1, d0["rows"], d0["cols"]),
                                  round(d0["rate_hz"] * 10), len(d0["cells"]))
        assert [f.hex() for f in frames] == [p["hex"] for p in parts]


def test_encoder_reproduces_the_golden_config_and_calibration_records():
    placements = {"anterior mid-thigh": 1, "lateral hip": 2, "seat": 3}
    sides = {"n/a": 0, "left": 1, "right": 2}
    accel = {2.0: 0, 4.0: 1, 8.0: 2, 16.0: 3}
    gyro = {250.0: 0, 500.0: 1, 1000.0: 2, 2000.0: 3, None: NO_GYRO}
    for v in golden("config"):
        d = v["decoded"]
        rec = ConfigRecord(d["kind"], placements[d["placement"]], sides[d["side"]],
                           round(d["rate_hz"] * 10), accel.get(d["accel_range_g"], 0),
                           gyro[d["gyro_range_dps"]], d["rows"], d["cols"], d["per_frame"],
                           int(d["running"]))
        assert rec.encode().hex() == v["hex"]
    for v in golden("calibration"):
        gain = np.rint(np.array(v["decoded"]["gain_kpa_per_count"]) * 10000)
        assert encode_calibration_record(gain).hex() == v["hex"]
