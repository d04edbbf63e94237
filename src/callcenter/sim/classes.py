"""AMI event classes (manager.conf ``read=`` / ``Events:`` names) as the simulator's bit mask."""

from __future__ import annotations

# event classes (bit mask used by AMI sessions to filter)
EV_CALL = 1
EV_DIALPLAN = 2
EV_AGI = 4
EV_CDR = 8
EV_DTMF = 16
EV_SYSTEM = 32
EV_SECURITY = 64
EV_AGENT = 128
EV_USER = 256
EV_ALL = 0xFFFF
EVENT_CLASSES = {
    "call": EV_CALL,
    "dialplan": EV_DIALPLAN,
    "agi": EV_AGI,
    "cdr": EV_CDR,
    "dtmf": EV_DTMF,
    "system": EV_SYSTEM,
    "security": EV_SECURITY,
    "agent": EV_AGENT,
    "user": EV_USER,
}
