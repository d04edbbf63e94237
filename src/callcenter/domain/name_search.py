"""Pinyin search keys of customer names: ``张伟`` is found by ``zhangwei``, ``zhang wei`` and ``zw``.

``search_key(name)`` is what the store keeps beside the name (``customers.name_search``, filled on every
write and back-filled by migration 0014): the full pinyin without tones and spaces, then the initials,
then the same pair for a surname read otherwise than usual (``曾`` is ``zeng`` as a surname, ``ceng``
otherwise; ``单`` is ``shan``), separated by spaces. A name without Chinese characters has an empty key (its
letters are searched as they are). ``query_key(text)`` is how a typed search is compared to it.
"""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_KEY = re.compile(r"[^a-z0-9]")
#: Surnames read otherwise than the character's usual reading (``曾`` zeng, not ceng).
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "区": "ou",
    "查": "zha",
    "乐": "yue",
    "尉": "yu",
    "覃": "qin",
    "翟": "zhai",
    "盖": "ge",
    "缪": "miao",
    "召": "shao",
    "种": "chong",
    "秘": "bi",
    "黑": "he",
    "员": "yun",
    "繁": "po",
    "句": "gou",
    "长": "chang",
    "藏": "zang",
    "重": "chong",
    "折": "she",
    "那": "na",
    "宁": "ning",
}
#: Longest key kept (a name is at most 200 characters; its pinyin about six times that).
MAX_KEY = 2000


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def _join(parts: list[str]) -> str:
    return _NOT_KEY.sub("", "".join(parts).lower())


def search_key(name: str) -> str:
    """The pinyin key of ``name`` (``""`` when it has no Chinese character)."""
    if not has_han(name):
        return ""
    text = name.strip()
    full = lazy_pinyin(text, style=Style.NORMAL, errors="default")
    initials = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")
    keys = [_join(full), _join(initials)]
    surname = SURNAME_READINGS.get(text[0])
    if surname is not None and surname != full[0]:
        keys.append(_join([surname, *full[1:]]))
        keys.append(_join([surname[0], *initials[1:]]))
    unique = list(dict.fromkeys(key for key in keys if key))
    return " ".join(unique)[:MAX_KEY]


def query_key(text: str) -> str:
    """A typed search as compared with the keys: lower case letters and digits only (``"Zhang Wei"``
    → ``"zhangwei"``); ``""`` when nothing of it can match a key."""
    return _join([text])
