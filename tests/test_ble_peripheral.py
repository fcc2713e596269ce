"""The simulated sensor as a GATT peripheral: config writes over bleak, and stopping the ingest
(Ctrl-C cancels the task) with everything received recorded."""

from __future__ import annotations

import asyncio
import struct

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from sitload.firmware_sim import SimulatedSensor
from sitload.firmware_sim.gatt_peripheral import (CONFIG_UUID, FRAME_UUID, SimulatedPeripheral,
                                          VirtualRadio)
from sitload.sensor_ingest.ble_ingest import Ingestor
from sitload.sensor_ingest.bumble_backend import BumbleClient, BumbleScanner
from sitload.sensor_ingest.frame_codec import FLAG_RESYNC, parse_config, parse_header
from sitload.sensor_ingest.recording import Recording, RecordingWriter
from sitload.sensor_ingest.stream_decoder import DeviceDecoder


async def _until(predicate, timeout=10.0):
    async def poll():
        while not predicate():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


def test_config_writes_stop_start_and_change_the_rate():
    sim = SimulatedSensor("desk-day", "thigh-imu", seed=2, hours=0.5)

    async def main():
        radio = VirtualRadio(sim.start_utc, speed=120)
        peripheral = SimulatedPeripheral(radio, sim)
        stream = asyncio.create_task(peripheral.run())
        device = await BleakScanner.find_device_by_address(sim.address, 5.0,
                                                           backend=BumbleScanner, radio=radio)
        got: list[bytes] = []
        configs = []
        async with BleakClient(device, backend=BumbleClient, radio=radio) as client:
            await client.start_notify(FRAME_UUID, lambda _c, data: got.append(bytes(data)))
            await _until(lambda: len(got) >= 20)
            await client.write_gatt_char(CONFIG_UUID, b"\x00", response=True)
            configs.append(parse_config(await client.read_gatt_char(CONFIG_UUID)))
            stopped_at = len(got)
            await asyncio.sleep(0.1)  # 12 s simulated
            paused = len(got) - stopped_at
            await client.write_gatt_char(CONFIG_UUID, b"\x01", response=True)
            await _until(lambda: len(got) >= stopped_at + 20)
            record = bytearray(sim.config_record)
            struct.pack_into("<H", record, 4, 300)  # ask for 30 Hz: the sensor offers 25
            await client.write_gatt_char(CONFIG_UUID, bytes(record), response=True)
            configs.append(parse_config(await client.read_gatt_char(CONFIG_UUID)))
            n = len(got)
            await _until(lambda: len(got) >= n + 20)
            with pytest.raises(BleakGATTProtocolError) as bad:
                await client.write_gatt_char(CONFIG_UUID, b"\x01\x02\x03", response=True)
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
        await peripheral.close()
        return got, configs, stopped_at, paused, bad.value.code

    got, configs, stopped_at, paused, error = asyncio.run(main())
    assert not configs[0].running and configs[1].running
    assert configs[1].rate_hz == 25.0 and configs[1].per_frame == 10
    assert paused <= 1  # at most one frame already on its way when the stop arrived
    assert error == 0x0D  # invalid attribute value length
    headers = [parse_header(f) for f in got]
    assert [h.seq for h in headers] == list(range(len(got)))  # no seq spent while stopped
    resumed = headers[stopped_at + paused]
    assert resumed.flags & FLAG_RESYNC
    assert {h.rate_hz for h in headers[-10:]} == {25.0} and {h.count for h in headers[-10:]} == {5}
    decoder = DeviceDecoder()
    decoder.feed_many(got, [0.2 * i for i in range(len(got))])
    assert decoder.stats.frames_bad == 0 and decoder.stats.missing_frames == 0
    assert [g.reason for g in decoder.gaps] == ["stopped"]


def test_cancelled_ingest_closes_the_link_and_keeps_every_frame_received(tmp_path):
    sim = SimulatedSensor("desk-day", "pressure", seed=1, hours=1.0)
    path = tmp_path / "stop.sitload"

    async def main(rec):
        radio = VirtualRadio(sim.start_utc, speed=60)
        peripheral = SimulatedPeripheral(radio, sim, keep_sent=True)
        stream = asyncio.create_task(peripheral.run())
        device = await BleakScanner.find_device_by_address(sim.address, 5.0,
                                                           backend=BumbleScanner, radio=radio)
        online = []
        ingestor = Ingestor([device], rec, {
            "client_backend": BumbleClient, "backend_kwargs": {"radio": radio},
            "clock": radio.clock.now, "on_availability": lambda a, up, battery: online.append((a, up))})
        task = asyncio.create_task(ingestor.run())
        [link] = ingestor.links
        await _until(lambda: link.received >= 300)
        task.cancel()  # what Ctrl-C does to the running monitor
        await asyncio.gather(task, return_exceptions=True)
        await _until(lambda: not peripheral.connected)
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
        await peripheral.close()
        return link, online, peripheral.sent

    with RecordingWriter(path) as rec:
        link, online, sent = asyncio.run(main(rec))
    with Recording(path) as rec:
        assert rec.closed_cleanly
        frames = [f for _, _, fs in rec.iter_frames(link.device_id) for f in fs]
        events = list(rec.link_events(link.device_id)["event"])
    assert len(frames) == link.status.frames >= 300
    assert frames == sent[:len(frames)]
    assert events == ["connected", "stopped"]
    assert online == [(sim.address, True), (sim.address, False)]
    assert link.status.state == "stopped"
