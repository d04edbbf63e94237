"""The demo's Chinese customers: Chinese names, unique +86 numbers (mobiles and Shanghai fixed lines)
that the CRM stores as E.164, and pinyin search keys for every name."""

from __future__ import annotations

from callcenter.demo import demo_customer_numbers
from callcenter.demo_names_zh import demo_customers_zh
from callcenter.domain.name_search import has_han, search_key
from callcenter.domain.phones import normalize_phone


def test_chinese_customers_with_plus86_numbers() -> None:
    zh = demo_customers_zh()
    assert len(zh) == 120 and zh == demo_customers_zh()  # same seed, same list
    numbers = [normalize_phone(number, "1") for number, *_ in zh]
    assert all(n is not None and n.startswith("+86") for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert any(n.startswith("+8621") for n in numbers if n)  # Shanghai fixed lines
    assert all(len(n) == 14 for n in numbers if n and not n.startswith("+8621"))  # 11-digit mobiles
    assert all(has_han(name) and search_key(name) for _, name, _, _ in zh)
    assert sum(vip for *_, vip in zh) == 12


def test_the_demo_seeds_them_beside_the_others() -> None:
    everyone = demo_customer_numbers()
    assert everyone[-120:] == demo_customers_zh()
    assert len({normalize_phone(n, "1") for n, *_ in everyone}) == len(everyone)
