"""The translation catalogues: every UI string extracted from the templates, scripts and server code is
in the zh_CN catalogue and translated, placeholders survive translation, and the committed .mo files are
compiled from the committed .po files (so nobody forgets ``make messages``)."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "callcenter" / "locale"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "t": None,
    "tr": None,
    "localize": None,
}


def _extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def _po(lang: str, *, plurals: bool = True) -> dict[str, str]:
    """msgid → msgstr; a plural entry gives both its ids the first form (zh has one form)."""
    with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    messages: dict[str, str] = {}
    for m in catalog:
        if isinstance(m.id, str) and m.id and isinstance(m.string, str):
            messages[m.id] = m.string
        elif plurals and isinstance(m.id, tuple | list):
            forms = list(m.string) if isinstance(m.string, tuple | list) else [m.string]
            for msgid in m.id:
                messages[msgid] = forms[0] if forms else ""
    return messages


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return _extracted()


def test_every_ui_string_is_translated_into_chinese(extracted: set[str]) -> None:
    zh = _po("zh_CN")
    missing = sorted(m for m in extracted if m not in zh)
    assert not missing, f"run `make messages` and translate: {missing[:20]}"
    untranslated = sorted(m for m in extracted if not zh[m])
    assert not untranslated, f"untranslated in zh_CN: {untranslated[:20]}"
    assert len(extracted) > 400  # the pages, scripts and messages really are extracted


def test_no_stale_messages(extracted: set[str]) -> None:
    for lang in ("zh_CN", "en"):
        stale = sorted(set(_po(lang)) - extracted)
        assert not stale, f"{lang}: messages no longer in the code (run `make messages`): {stale[:20]}"


_PLACEHOLDERS = re.compile(r"%\([a-z_]+\)[sdr]|\{[a-z_]+\}|%[sd]")


def test_placeholders_survive_translation() -> None:
    for msgid, msgstr in _po("zh_CN").items():
        assert sorted(_PLACEHOLDERS.findall(msgid)) == sorted(_PLACEHOLDERS.findall(msgstr)), msgid


def test_translations_carry_no_latin_words_but_terms() -> None:
    # a Chinese page must not fall back to English inside a translation; technical names stay
    allowed = {"Ping", "AMI", "Erlang", "C", "CSV", "MP3", "UTC", "README", "SL2", "T", "NUL"}
    markup = re.compile(r"<code>.*?</code>|<[^>]+>")
    for msgid, msgstr in _po("zh_CN").items():
        words = set(re.findall(r"[A-Za-z][A-Za-z0-9]*", markup.sub("", _PLACEHOLDERS.sub("", msgstr))))
        assert words <= allowed, f"{msgid!r} → {msgstr!r}: {words - allowed}"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_committed_mo_is_compiled_from_the_po(lang: str) -> None:
    directory = LOCALE / lang / "LC_MESSAGES"
    with (directory / "messages.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    catalog: dict[object, str] = compiled._catalog  # type: ignore[attr-defined]
    in_mo = {k: v for k, v in catalog.items() if isinstance(k, str) and k and v}
    in_po = {k: v for k, v in _po(lang, plurals=False).items() if v}
    assert in_mo == in_po, "the .mo is out of date: run `make messages` (pybabel compile)"
