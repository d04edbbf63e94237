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
EV_ORIGINATE = 512
EV_COMMAND = 1024
EV_REPORTING = 2048
EV_CONFIG = 4096
EV_LOG = 8192
EV_VERBOSE = 16384
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
    "originate": EV_ORIGINATE,
    "command": EV_COMMAND,
    "reporting": EV_REPORTING,
    "config": EV_CONFIG,
    "log": EV_LOG,
    "verbose": EV_VERBOSE,
}

#: what each action needs in the account's ``write=`` (manager.c / app_queue / features.c
#: registrations; 0 = every logged-in session). One shared class is enough, as in manager.c.
ACTION_AUTHORITY: dict[str, int] = {
    "ping": 0,
    "events": 0,
    "listcommands": 0,
    "hangup": EV_SYSTEM | EV_CALL,
    "status": EV_SYSTEM | EV_CALL | EV_REPORTING,
    "setvar": EV_CALL,
    "getvar": EV_CALL | EV_REPORTING,
    "redirect": EV_CALL,
    "atxfer": EV_CALL,
    "blindtransfer": EV_CALL,
    "bridge": EV_CALL,
    "bridgelist": 0,
    "originate": EV_ORIGINATE,
    "command": EV_COMMAND,
    "coresettings": EV_SYSTEM | EV_REPORTING,
    "corestatus": EV_SYSTEM | EV_REPORTING,
    "coreshowchannels": EV_SYSTEM | EV_REPORTING,
    "userevent": EV_USER,
    "playdtmf": EV_CALL,
    "mixmonitor": EV_SYSTEM | EV_CALL,
    "stopmixmonitor": EV_SYSTEM | EV_CALL,
    "queuestatus": 0,
    "queuesummary": 0,
    "queueadd": EV_AGENT,
    "queueremove": EV_AGENT,
    "queuepause": EV_AGENT,
}
