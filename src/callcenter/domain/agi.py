"""FastAGI replies as the domain sees them (parsed in ``pbx/fastagi.py``, traces README facts 22-27)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgiReply:
    """``200 result=<result>[ (<data>)][ endpos=<n>]``; other codes keep the line in ``text``.

    * GET DATA: ``result`` is the digits ("" on no input) and ``timeout`` is True for ``(timeout)``;
    * WAIT FOR DIGIT / STREAM FILE: ``result`` is the ASCII code of the digit, 0 none, -1 hang-up/error;
    * GET VARIABLE: ``result`` 1 with ``data`` the value, 0 when unset;
    * EXEC: ``result`` is the application's return, -2 when the application does not exist.
    """

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    timeout: bool = False
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            return 0

    @property
    def digit(self) -> str | None:
        """The digit of a WAIT FOR DIGIT / STREAM FILE reply, None if none was pressed."""
        code = self.result_int
        return chr(code) if code > 0 else None
