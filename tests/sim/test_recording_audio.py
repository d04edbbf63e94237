"""MixMonitor writes real audio (``sim/audio.py``): one 8 kHz 16-bit mono WAV per recorded call leg, of
the recording's duration, inside ``SimConfig.recordings_dir`` only."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

from callcenter.sim import Simulator
from callcenter.sim.audio import speech_like, write_wav

from .test_engine import cfg


async def _wait_files(root: Path, count: int, limit: float = 20.0) -> list[Path]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        files = await asyncio.to_thread(lambda: sorted(root.glob("*.wav")))
        if len(files) >= count or loop.time() > deadline:
            return files
        await asyncio.sleep(0.05)


async def test_every_recorded_call_leaves_a_wav_of_its_duration(tmp_path: Path) -> None:
    rec_dir = tmp_path / "recordings"
    c = cfg(recordings_dir=str(rec_dir), max_calls=4, speed=20)
    sim = Simulator(c)
    await sim.start()
    try:
        await sim.run_traffic()
        await sim.drain(c.drain_timeout)
        assert sim.pbx is not None
        names = [
            ch.vars.get("MIXMONITOR_FILENAME")
            for ch in sim.pbx.channels.values()
            if ch.vars.get("MIXMONITOR_FILENAME")
        ]
        assert names == []  # every recorded channel has hung up
        files = await _wait_files(rec_dir, 4)
    finally:
        await sim.stop()
    assert len(files) == 4
    assert not list(rec_dir.glob(".*.part"))
    for f in files:
        with wave.open(str(f), "rb") as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            seconds = w.getnframes() / w.getframerate()
        # FAST_PHONES / PEOPLE talk 5-8 simulated seconds; the leg is recorded from its answer on
        assert 4.0 <= seconds <= 12.0, (f.name, seconds)
        frames = f.read_bytes()[44:]
        assert frames.count(0) < len(frames) * 0.9  # not silence


async def test_no_recordings_dir_writes_nothing() -> None:
    c = cfg(max_calls=2, speed=20)
    sim = Simulator(c)
    await sim.start()
    try:
        await sim.run_traffic()
        await sim.drain(c.drain_timeout)
        assert sim.pbx is not None and sim.pbx.recordings == {}
    finally:
        await sim.stop()


async def test_absolute_file_outside_the_directory_is_not_written(tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    sim = Simulator(cfg(recordings_dir=str(rec_dir), rate=0.0))
    await sim.start()
    try:
        pbx = sim.pbx
        assert pbx is not None
        chan = pbx.new_pjsip("PJSIP/1001", None)
        pbx.mixmonitor(chan, str(tmp_path / "elsewhere.wav"))
        assert pbx.recordings == {}
        pbx.mixmonitor(chan, "inside.wav")
        assert chan.vars["MIXMONITOR_FILENAME"] == str((rec_dir / "inside.wav").resolve())
        pbx.stop_mixmonitor(chan)
        assert await _wait_files(rec_dir, 1)
    finally:
        await sim.stop()
    assert not (tmp_path / "elsewhere.wav").exists()


def test_speech_like_audio_is_deterministic_and_exact(tmp_path: Path) -> None:
    a, b = speech_like(2.5, "x"), speech_like(2.5, "x")
    assert a == b and len(a) == 2.5 * 8000 * 2
    size = write_wav(tmp_path / "r.wav", 1.0, "y")
    assert size == 44 + 16000
