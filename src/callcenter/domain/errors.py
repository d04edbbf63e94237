"""The one exception tree of callcenter.

Adapters convert library errors into these at their boundary (``raise ... from exc``) so that
services and the web layer never see panoramisk, SQLAlchemy or redis exceptions.

    CallcenterError
    ├── ConfigError            settings invalid or missing (raised at start, message names the variable)
    ├── PbxError               anything wrong on the PBX link
    │   ├── PbxUnavailable     not connected / connection lost while waiting
    │   ├── AmiLoginFailed     the PBX rejected our credentials (never retried silently)
    │   ├── AmiActionTimeout   an action got no response in time
    │   ├── AmiActionError     the PBX answered ``Response: Error`` (message kept)
    │   └── AmiProtocolError   a frame we cannot parse (counted, logged with its bytes)
    ├── AgiError               a FastAGI session failed (caller hung up, bad reply, timeout)
    │   └── AgiHangup          the caller is gone (HANGUP line, EOF or 511)
    ├── StoreError             the database failed or is unreachable
    │   ├── StoreUnavailable
    │   ├── DuplicateError     a unique key is taken
    │   └── InvalidValue       the database refused a value (out of range, NUL in text): bad input
    ├── StateError             the shared live state (Redis) failed
    ├── AuthError              login failed or missing
    │   └── PermissionDenied   authenticated but not allowed
    └── NotFound               a requested record does not exist
"""

from __future__ import annotations


class CallcenterError(Exception):
    """Base of every error raised on purpose by callcenter."""


class ConfigError(CallcenterError):
    """Invalid settings; the message names the setting and what is wrong."""


class PbxError(CallcenterError):
    """Something went wrong on the link to the PBX."""


class PbxUnavailable(PbxError):
    """The AMI link is down (or went down while an action waited)."""


class AmiLoginFailed(PbxError):
    """The PBX refused our AMI credentials."""


class AmiActionTimeout(PbxError):
    """An AMI action got no response within its timeout."""


class AmiActionError(PbxError):
    """The PBX answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class AmiProtocolError(PbxError):
    """A frame that cannot be parsed."""


class AgiError(CallcenterError):
    """A FastAGI session failed."""


class AgiHangup(AgiError):
    """The caller hung up (HANGUP line, EOF, or 511 on a dead channel)."""


class StoreError(CallcenterError):
    """The CRM store failed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


class DuplicateError(StoreError, ValueError):
    """A unique key is taken (username, token, phone number). Also a ``ValueError`` so services can
    catch it as bad input."""


class InvalidValue(StoreError, ValueError):
    """The database refused a value it cannot store or compare (an integer past its column's range, a
    NUL character in text). The request's fault, not an outage: the web layer answers 400. The web
    layer's own checks (``webapp/params.py``, ``domain/bounds.py``) should stop such values first."""


class StateError(CallcenterError):
    """The shared live state failed."""


class AuthError(CallcenterError):
    """Authentication failed or is missing."""


class PermissionDenied(AuthError):
    """Authenticated, but the role does not allow this."""


class NotFound(CallcenterError):
    """The requested record does not exist."""
