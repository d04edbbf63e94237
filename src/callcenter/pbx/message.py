"""One AMI message in its normal form.

The normal form (used everywhere inside ``pbx/``; raw messages never leave ``pbx/``):

* a message is an ordered list of ``(key, value)`` pairs exactly as received, split on the first
  ``": "`` only; values keep leading/trailing spaces and may be empty (traces README fact 4);
* ``msg[key]`` / ``msg.get(key)`` match keys **case-insensitively** (``UniqueID`` in Cdr and ``Uniqueid``
  elsewhere are the same key, fact 16) and return the *first* value;
* ``msg.get_all(key)`` returns every value of a repeated key (``ChanVariable``, ``Output``, ``Variable``);
* ``msg.as_dict()`` gives a plain dict keyed by the key as first spelled: a key seen once maps to a
  ``str``, a key seen several times to a ``list[str]`` in arrival order. This is what
  ``PbxControl.send_action`` returns.
* a line without ``": "`` (for example ``Output:`` with nothing after the colon) is kept with the text
  before the colon as key and ``""`` as value; a line with no colon at all is kept under the key ``""``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from callcenter.domain.errors import AmiProtocolError


class AmiMessage:
    __slots__ = ("_index", "pairs")

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs: tuple[tuple[str, str], ...] = tuple(pairs)
        index: dict[str, str] = {}
        for key, value in self.pairs:
            index.setdefault(key.lower(), value)
        self._index = index

    # --- lookup ---------------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        try:
            return self._index[key.lower()]
        except KeyError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        lowered = key.lower()
        return [v for k, v in self.pairs if k.lower() == lowered]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    # --- kinds ----------------------------------------------------------------------------
    @property
    def event(self) -> str | None:
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    def as_dict(self) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {}
        spelled: dict[str, str] = {}
        for key, value in self.pairs:
            first = spelled.setdefault(key.lower(), key)
            current = out.get(first)
            if current is None:
                out[first] = value
            elif isinstance(current, list):
                current.append(value)
            else:
                out[first] = [current, value]
        return out

    def __repr__(self) -> str:
        kind = self.event or self.response or "?"
        return f"AmiMessage({kind!r}, {len(self.pairs)} fields)"


def parse_message(text: str) -> AmiMessage:
    """Parse one message (without its terminating blank line) from already-decoded text."""
    pairs: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if not line:
            continue
        sep = line.find(": ")
        if sep >= 0:
            pairs.append((line[:sep], line[sep + 2 :]))
        elif line.endswith(":"):
            pairs.append((line[:-1], ""))
        else:
            pairs.append(("", line))
    if not pairs:
        raise AmiProtocolError("empty AMI message")
    return AmiMessage(pairs)


def parse_frame(frame: bytes) -> AmiMessage:
    """Decode one whole message (UTF-8, undecodable bytes replaced, never per-chunk) and parse it."""
    return parse_message(frame.decode("utf-8", errors="replace"))


def format_action(action: str, fields: Sequence[tuple[str, str]]) -> bytes:
    """Serialise an action; ``fields`` may repeat keys (``Variable``). CR/LF in values are refused."""
    lines = [f"Action: {action}"]
    for key, value in fields:
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise AmiProtocolError(f"AMI field {key!r} contains a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
