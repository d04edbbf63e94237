"""Read the real AMI traces in ``tests/fixtures/pbx-traces`` as (time, AmiMessage) pairs, for pure tests.

The trace format is documented in the traces README: ``@@ KIND CONN T N`` headers followed by N bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from callcenter.pbx.message import AmiMessage, parse_frame

TRACES_DIR = Path(
    os.environ.get("CALLCENTER_TRACES_DIR", Path(__file__).resolve().parents[1] / "fixtures" / "pbx-traces")
)


def read_records(path: Path) -> Iterator[tuple[str, str, float, bytes]]:
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        line = data[pos:eol]
        pos = eol + 1
        if line.startswith(b"#"):
            continue
        _, kind, conn, t, n = line.decode().split(" ")
        size = int(n)
        yield kind, conn, float(t), data[pos : pos + size]
        pos += size + 1


def trace_messages(name: str, conn_prefix: str = "ami") -> Iterator[tuple[float, str, AmiMessage]]:
    """Every whole AMI message received in a trace, with the receive time of the read that completed it."""
    buffers: dict[str, bytes] = {}
    for kind, conn, t, payload in read_records(TRACES_DIR / name):
        if kind != "RX" or not conn.startswith(conn_prefix):
            continue
        buf = buffers.get(conn, b"") + payload
        if buf.startswith(b"Asterisk Call Manager/"):
            buf = buf.split(b"\r\n", 1)[1]
        *frames, rest = buf.split(b"\r\n\r\n")
        buffers[conn] = rest
        for frame in frames:
            if frame.strip():
                yield t, conn, parse_frame(frame)
