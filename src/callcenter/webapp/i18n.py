"""Languages of the pages and messages (zh-CN and en): catalogues, negotiation, the current locale.

One set of gettext catalogues (``src/callcenter/locale/<locale>/LC_MESSAGES/messages.po``, compiled to
``.mo`` beside it; ``make messages`` extracts and compiles) serves the Jinja2 templates (the i18n
extension), the server's messages (``gettext`` below) and the browser's scripts (``/i18n/<lang>.json``,
read by ``web/static/i18n.js``).

The language of a request: the user's stored setting (``users.language``, set by ``POST /language``
and audited), else the ``callcenter_lang`` cookie (set by the same form before login), else the best
match of ``Accept-Language``, else ``CALLCENTER_DEFAULT_LANGUAGE``. ``locale_middleware`` decides it
once per request and keeps it in a context variable, so templates and error messages rendered anywhere
in that request (including the error middleware) speak it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from babel.support import NullTranslations, Translations

from callcenter.domain.errors import StoreError
from callcenter.domain.text import N_
from callcenter.domain.users import LANGUAGES
from callcenter.webapp import jsonenc

__all__ = ["N_", "current_language", "enum_label", "gettext", "localize", "ngettext", "tr", "tr_values"]

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
DOMAIN = "messages"
LANG_COOKIE = "callcenter_lang"
#: BCP 47 tag (pages, ``Accept-Language``) → gettext locale directory.
_LOCALE_OF = {"en": "en", "zh-CN": "zh_CN"}
#: Accept-Language primary tags and regions read as one of ours (``zh``, ``zh-Hans``, ``zh-SG`` → zh-CN).
_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN", "zh-sg": "zh-CN", "en": "en"}

_CURRENT: ContextVar[str] = ContextVar("callcenter_language", default="en")
_PATH: ContextVar[str] = ContextVar("callcenter_path", default="/")


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language`` (one of ``LANGUAGES``), loaded once."""
    locale = _LOCALE_OF.get(language)
    if locale is None:
        raise ValueError(f"unsupported language {language!r}")
    return Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)


def current_language() -> str:
    """The language of the request being handled (``en`` outside a request)."""
    return _CURRENT.get()


def current_path() -> str:
    """The path (and query) of the page being rendered: where the language menu comes back to."""
    return _PATH.get()


def set_language(language: str) -> None:
    """Make ``language`` the current one (tests, CLI renders); requests use ``locale_middleware``."""
    _CURRENT.set(language if language in LANGUAGES else "en")


def gettext(message: str) -> str:
    """``message`` in the current language (itself when the catalogue has no translation)."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(current_language()).pgettext(context, message))


def tr(message: object) -> str:
    """A text decided at run time (a report's title, a page title from a view) in the current
    language when the catalogue has it; never ``%``-formatted (templates: ``{{ tr(title) }}``)."""
    return gettext(str(message)) if message else ""


def localize(message: object) -> str:
    """A server message in the current language: a catalogue message as a whole, else its known
    prefix before a colon (``"not a phone number: 'x'"``), else as it is (never ``%``-formatted)."""
    text = str(message) if message is not None else ""
    translated = gettext(text) if text else ""
    if translated != text or ": " not in text:
        return translated
    head, _, tail = text.partition(": ")
    head_translated = gettext(head)
    return text if head_translated == head else f"{head_translated}: {tail}"


#: Enum values shown by the server (the scripts have their own table in format.js, same messages).
ENUM_LABELS: dict[str, str] = {
    "new": N_("New"),
    "open": N_("Open"),
    "pending": N_("Pending"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
    "answered": N_("Answered"),
    "abandoned": N_("Abandoned"),
    "abandoned_in_ivr": N_("Abandoned in IVR"),
    "unanswered": N_("Unanswered"),
    "failed": N_("Failed"),
    "lost": N_("Lost"),
    "in_progress": N_("In progress"),
    "transferred": N_("Transferred"),
    "voicemail": N_("Voicemail"),
    "callback": N_("Callback"),
    "queued": N_("Queued"),
    "self_served": N_("Self-served"),
    "error": N_("Error"),
    "caller": N_("caller"),
    "agent": N_("agent"),
    "system": N_("system"),
    "unknown": N_("unknown"),
    "menu": N_("menu"),
    "lookup": N_("lookup"),
    "queue": N_("queue"),
    "hangup": N_("hang-up"),
    "play": N_("play"),
    "collect": N_("input"),
    "branch": N_("branch"),
    "hours": N_("opening hours"),
    "language": N_("language"),
    "set": N_("set"),
    "transfer": N_("transfer"),
    "case_status": N_("repair status"),
    "blind": N_("blind"),
    "busy": N_("Busy"),
    "noanswer": N_("No answer"),
    "congestion": N_("congestion"),
    "cancel": N_("cancelled"),
    "chanunavail": N_("unavailable"),
}


def enum_label(value: object) -> str:
    """The label of an enum value in the current language (the value itself when it has none)."""
    text = "" if value is None else str(value)
    msgid = ENUM_LABELS.get(text)
    return gettext(msgid) if msgid is not None else text


def tr_values(message: str, values: Mapping[str, str]) -> str:
    """``message`` (a ``%(name)s`` pattern) in the current language, its enum values labelled."""
    try:
        return gettext(message) % {name: enum_label(value) for name, value in values.items()}
    except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder: the English text
        return message % dict(values)


def parse_accept_language(header: str) -> list[str]:
    """Our languages in the order ``Accept-Language`` prefers them (q-values honoured, q=0 refused)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if not tag or quality <= 0:
            continue
        language = _ALIASES.get(tag) or _ALIASES.get(tag.split("-", 1)[0])
        if tag.startswith("zh-") and tag in ("zh-tw", "zh-hk", "zh-hant", "zh-mo"):
            language = None  # traditional Chinese: not ours, let the next preference decide
        if language is not None:
            weighted.append((quality, index, language))
    weighted.sort(key=lambda item: (-item[0], item[1]))
    seen: list[str] = []
    for _, _, language in weighted:
        if language not in seen:
            seen.append(language)
    return seen


def negotiate(
    *, user_language: str = "", cookie: str | None = None, accept_language: str = "", default: str = "en"
) -> str:
    """The user's stored language, else the cookie, else ``Accept-Language``, else ``default``."""
    for choice in (user_language, cookie or ""):
        if choice in LANGUAGES:
            return choice
    preferred = parse_accept_language(accept_language)
    if preferred:
        return preferred[0]
    return default if default in LANGUAGES else "en"


async def request_language(request: web.Request) -> str:
    # imported here: auth imports errors and keys imports templating, which use this module
    from callcenter.webapp.auth import get_principal
    from callcenter.webapp.keys import SETTINGS

    user_language = ""
    try:
        principal = await get_principal(request)
    except StoreError:
        principal = None  # the handler meets the same outage and answers it
    if principal is not None:
        user_language = principal.user.language
    return negotiate(
        user_language=user_language,
        cookie=request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("Accept-Language", ""),
        default=request.app[SETTINGS].default_language if SETTINGS in request.app else "en",
    )


_SKIP_PREFIXES = ("/static/", "/i18n/", "/favicon")


@web.middleware
async def locale_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decide the request's language once; every page and message of the request speaks it."""
    if request.path.startswith(_SKIP_PREFIXES) or request.path in ("/healthz", "/metrics"):
        return await handler(request)
    language = await request_language(request)
    token = _CURRENT.set(language)
    path_token = _PATH.set(request.path_qs if request.method == "GET" else "/")
    try:
        response = await handler(request)
    finally:
        _PATH.reset(path_token)
        _CURRENT.reset(token)
    if not response.prepared and "Content-Language" not in response.headers:
        response.headers["Content-Language"] = language
    return response


# -- the browser's strings -------------------------------------------------------------------------------


@functools.cache
def catalogue_json(language: str) -> bytes:
    """Every translated message of ``language`` as a JSON object ``{msgid: msgstr}`` (en: ``{}``)."""
    catalog: Mapping[Any, str] = getattr(translations(language), "_catalog", {})
    messages = {key: value for key, value in catalog.items() if isinstance(key, str) and key and value}
    return jsonenc.dumps(dict(sorted(messages.items()))).encode()


@functools.cache
def catalogue_version(language: str) -> str:
    return hashlib.sha256(catalogue_json(language)).hexdigest()[:12]


def catalogue_url(language: str) -> str:
    """The URL ``base.html`` names for the scripts' strings (versioned, so it can be cached long)."""
    return f"/i18n/{language}.json?v={catalogue_version(language)}"


async def catalogue(request: web.Request) -> web.StreamResponse:
    """``GET /i18n/{lang}.json``: the scripts' strings from the same catalogue (no login: the login
    page uses them too)."""
    language = request.match_info["lang"]
    if language not in LANGUAGES:
        raise web.HTTPNotFound(reason="unknown language")
    return web.Response(
        body=catalogue_json(language),
        content_type="application/json",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def language_names() -> dict[str, str]:
    """Each language named in itself, for the language menu."""
    return {"en": "English", "zh-CN": "中文（简体）"}
