"""Erlang C: how many agents a queue needs for a service level target (the staffing advisor).

Model (M/M/N, callers wait forever): Poisson arrivals at rate λ (calls/s), exponential handle times with
mean AHT (s), N identical agents. The offered traffic is **A = λ · AHT** Erlangs.

* Erlang B by the numerically stable recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)).
* Probability that a caller waits: **C(N, A) = N·B(N) / (N − A·(1 − B(N)))** for N > A, else 1.
* Service level (answered within T): **SL(N) = 1 − C(N, A) · e^(−(N − A)·T / AHT)**.
* Average speed of answer: **ASA(N) = C(N, A) · AHT / (N − A)**.
* Occupancy: **A / N**.
* Agents needed: the smallest N with SL(N) ≥ target (N > A).

Sources: A. K. Erlang (1917); ITU-T E.500-series traffic tables; the formulas as given in Koole,
"Call Center Optimization" (2013), ch. 5, and Gans, Koole, Mandelbaum, "Telephone call centers: tutorial,
review and research prospects" (2003). Erlang C ignores abandonment (it overstates the need when many
callers give up) and treats agents shared between queues as dedicated to each queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Search limit for ``agents_needed`` (beyond this the answer is not useful on a wallboard).
MAX_AGENTS = 10_000


def erlang_b(agents: int, traffic: float) -> float:
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller has to wait (1.0 when the queue is unstable, N ≤ A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    b = erlang_b(agents, traffic)
    return agents * b / (agents - traffic * (1.0 - b))


def service_level(agents: int, traffic: float, aht: float, threshold: float) -> float:
    if traffic <= 0:
        return 1.0
    if agents <= traffic or aht <= 0:
        return 0.0
    return max(0.0, 1.0 - erlang_c(agents, traffic) * math.exp(-(agents - traffic) * threshold / aht))


def asa(agents: int, traffic: float, aht: float) -> float | None:
    """Average speed of answer in seconds (None: unstable, the queue grows without bound)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return None
    return erlang_c(agents, traffic) * aht / (agents - traffic)


def agents_needed(rate: float, aht: float, threshold: float, target: float) -> int:
    """The fewest agents reaching ``target`` (fraction) answered within ``threshold`` seconds."""
    traffic = rate * aht
    if traffic <= 0:
        return 0
    n = max(1, math.floor(traffic) + 1)
    while n < MAX_AGENTS and service_level(n, traffic, aht, threshold) < target:
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class Staffing:
    """One queue's advice: traffic, agents needed now / next interval, and what ±1 agent would give."""

    rate_per_hour: float
    next_rate_per_hour: float
    aht: float
    traffic: float  # Erlangs
    needed_now: int
    needed_next: int
    staffed: int
    sl_staffed: float | None  # the predicted service level with the agents staffed now
    asa_staffed: float | None
    sl_minus_one: float | None
    asa_minus_one: float | None
    sl_plus_one: float | None
    asa_plus_one: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        def r(v: float | None, n: int = 3) -> float | None:
            return None if v is None else round(v, n)

        return {
            "rate_per_hour": round(self.rate_per_hour, 1),
            "next_rate_per_hour": round(self.next_rate_per_hour, 1),
            "aht": round(self.aht, 1),
            "traffic_erlangs": round(self.traffic, 2),
            "needed_now": self.needed_now,
            "needed_next": self.needed_next,
            "staffed": self.staffed,
            "sl_staffed": r(self.sl_staffed),
            "asa_staffed": r(self.asa_staffed, 1),
            "sl_minus_one": r(self.sl_minus_one),
            "asa_minus_one": r(self.asa_minus_one, 1),
            "sl_plus_one": r(self.sl_plus_one),
            "asa_plus_one": r(self.asa_plus_one, 1),
        }


def advise(
    rate: float, next_rate: float, aht: float, threshold: float, target: float, staffed: int
) -> Staffing:
    """Staffing advice for arrival ``rate`` now and ``next_rate`` next interval (calls/s)."""
    traffic = rate * aht

    def sl(n: int) -> float | None:
        return None if n < 0 else service_level(n, traffic, aht, threshold)

    def speed(n: int) -> float | None:
        return None if n < 0 else asa(n, traffic, aht)

    return Staffing(
        rate_per_hour=rate * 3600,
        next_rate_per_hour=next_rate * 3600,
        aht=aht,
        traffic=traffic,
        needed_now=agents_needed(rate, aht, threshold, target),
        needed_next=agents_needed(next_rate, aht, threshold, target),
        staffed=staffed,
        sl_staffed=sl(staffed),
        asa_staffed=speed(staffed),
        sl_minus_one=sl(staffed - 1),
        asa_minus_one=speed(staffed - 1),
        sl_plus_one=sl(staffed + 1),
        asa_plus_one=speed(staffed + 1),
    )
