"""Chinese demo customers (issue 18): names in characters, Shanghai companies, +86 numbers.

The original center is in Shanghai: the demo's CRM holds these beside the international customers, so
the console pops Chinese names, the CRM finds them by pinyin or initials (``zhangwei``, ``zw``), and the
simulated callers dial in from mainland mobiles (``+86 1xx xxxx xxxx``) and Shanghai fixed lines
(``+86 21 xxxx xxxx``). Same seed, same list.
"""

from __future__ import annotations

import random

#: Common surnames, most frequent first (王 李 张 刘 陈 ...), and a few two-character ones.
SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "林",
    "罗",
    "高",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
    "曾",
    "彭",
    "萧",
    "欧阳",
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "晓东",
    "海燕",
    "建华",
    "志强",
    "文静",
    "思远",
    "子涵",
    "雨桐",
)
COMPANIES = (
    "上海浦东贸易有限公司",
    "上海申达物流有限公司",
    "华东电子科技有限公司",
    "静安医疗器械有限公司",
    "徐汇软件有限公司",
    "",
    "",
    "",
    "",
)
_MOBILE_PREFIXES = ("135", "136", "138", "139", "150", "158", "186", "188", "177", "199")


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def cn_number(rng: random.Random, index: int) -> str:
    """A +86 number, unique per ``index``: mobiles mostly, a Shanghai fixed line (021) every fifth."""
    if index % 5 == 4:
        return f"+86 21 6{index % 1000:03d} {rng.randrange(10_000):04d}"
    prefix = _MOBILE_PREFIXES[index % len(_MOBILE_PREFIXES)]
    return f"+86 {prefix} {index:04d} {rng.randrange(10_000):04d}"


def demo_customers_zh(count: int = 120, seed: int = 86) -> list[tuple[str, str, str, bool]]:
    """(raw number, name, company, vip) of the Chinese demo customers; every tenth one a VIP."""
    rng = random.Random(seed)
    return [(cn_number(rng, i), chinese_name(rng), rng.choice(COMPANIES), i % 10 == 0) for i in range(count)]
