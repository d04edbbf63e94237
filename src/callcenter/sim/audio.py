"""MixMonitor's files: the simulated PBX writes real audio for every recorded channel.

Asterisk's MixMonitor writes ``<name>.wav`` (8 kHz, 16-bit, mono PCM) while the channel is up and closes
it when the channel hangs up or ``StopMixMonitor`` runs. The simulator has no media, so it writes the
whole file when the recording ends: speech-like audio (voiced "syllables" of a few harmonics with an
envelope, separated by pauses) of the recording's simulated duration. The file is built and written in a
worker thread (``asyncio.to_thread``, owned by the PBX's task set), into a temporary name first and then
renamed, so a reader never sees half a file and the simulator's event loop never blocks on the disk.

Only active when ``SimConfig.recordings_dir`` is set (the demo sets it to the service's recordings
directory); otherwise MixMonitor behaves as before (a file name under ``/var/spool/asterisk/monitor/``,
nothing written).
"""

from __future__ import annotations

import logging
import math
import os
import random
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RATE = 8000
SAMPLE_WIDTH = 2
#: a recording is never longer than this (a runaway channel must not fill the disk)
MAX_SECONDS = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class Recording:
    """One MixMonitor in progress: where it goes and when it started (simulated monotonic s)."""

    path: str
    started: float


def _syllable(rng: random.Random) -> bytes:
    """0.08-0.3 s of a voiced sound: a fundamental of 90-260 Hz with three harmonics, sine envelope."""
    f0 = rng.uniform(90.0, 260.0)
    n = int(RATE * rng.uniform(0.08, 0.3))
    amp = rng.uniform(2500.0, 9000.0)
    harmonics = [(1.0, 1.0), (2.0, 0.5), (3.0, 0.25), (4.0, 0.12)]
    out = bytearray()
    for i in range(n):
        t = i / RATE
        env = math.sin(math.pi * i / n)
        v = sum(w * math.sin(2 * math.pi * f0 * k * t) for k, w in harmonics)
        out += struct.pack("<h", max(-32767, min(32767, int(amp * env * v / 1.9))))
    return bytes(out)


class _Voice:
    """A small bank of syllables, built once per process and reused (cheap file generation)."""

    _bank: list[bytes] | None = None

    @classmethod
    def bank(cls) -> list[bytes]:
        if cls._bank is None:
            rng = random.Random("callcenter-sim-voice")
            cls._bank = [_syllable(rng) for _ in range(24)]
        return cls._bank


def speech_like(seconds: float, seed: str) -> bytes:
    """``seconds`` of 8 kHz 16-bit mono PCM: talk spurts of syllables and pauses (deterministic)."""
    total = int(max(0.0, min(seconds, MAX_SECONDS)) * RATE) * SAMPLE_WIDTH
    rng = random.Random(seed)
    bank = _Voice.bank()
    parts: list[bytes] = []
    size = 0
    while size < total:
        # a spurt of 2-8 syllables, then a pause of 0.2-1.2 s
        for _ in range(rng.randint(2, 8)):
            s = rng.choice(bank)
            parts.append(s)
            size += len(s)
        gap = int(RATE * rng.uniform(0.2, 1.2)) * SAMPLE_WIDTH
        parts.append(b"\x00" * gap)
        size += gap
    return b"".join(parts)[:total]


def write_wav(path: str | Path, seconds: float, seed: str) -> int:
    """Write the recording (blocking: run in a thread). Returns the file's size in bytes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    frames = speech_like(seconds, seed)
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(RATE)
        for i in range(0, len(frames), 64 * 1024):
            wav.writeframes(frames[i : i + 64 * 1024])
    os.replace(tmp, target)
    return target.stat().st_size


def recording_path(recordings_dir: str, filename: str) -> str:
    """Where MixMonitor writes ``filename``: absolute names as given, others under ``recordings_dir``."""
    if filename.startswith("/"):
        return filename
    return str(Path(recordings_dir).resolve() / filename)


def inside(recordings_dir: str, path: str) -> bool:
    """True if ``path`` lies inside ``recordings_dir`` (the simulator writes nowhere else)."""
    root = Path(recordings_dir).resolve()
    try:
        return Path(path).resolve().is_relative_to(root) and Path(path).resolve() != root
    except (OSError, ValueError):
        return False
