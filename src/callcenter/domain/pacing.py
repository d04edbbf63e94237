"""Predictive pacing: how many customers to have in flight for the agents of a campaign (pure).

The algorithm (the "expected overflow" rule of predictive dialing):

1. **Agents about to be free.** ``free`` agents are free now; each of the ``busy`` agents (on a call or
   in wrap-up) frees within the next ``horizon`` seconds with probability ``1 - exp(-horizon / handle)``
   when handle times are exponential with mean ``handle`` (memoryless residual time):
   ``A = free + busy * (1 - exp(-horizon / handle))``. The horizon is when the dials in flight will be
   answered: on average half the measured time from dial to answer (a dial in flight is half-way
   through its ring), plus the connect limit an answered customer may wait (2 s).
2. **Answers of the calls in flight.** A new dial is answered by a person with the measured probability
   ``p`` (answered by a person / dials that ended, over a recent window, with a prior until enough
   dials are measured). A dial that has been ringing for ``a`` seconds is answered with the measured
   share of people among the dials that lasted longer than ``a`` (a call ringing for 20 s is most
   likely one nobody will answer). The answers ``X`` are the sum of these Bernoulli variables (a
   Poisson-binomial law, computed exactly by convolution).
3. **The abandon rule.** A customer answered while no agent is free is abandoned, so the expected
   fraction abandoned is ``E[(X - A)+] / E[X]``. The pacer keeps the largest ``n`` (at most
   ``max_ratio`` lines per staffed agent) for which that fraction stays at or under the target, and
   dials ``n - in_flight`` more (never a negative number: calls are not cancelled).
4. **Feedback on the measured rate.** The target is the campaign's cap while the abandon rate measured
   over the rolling window stays under it; once it goes over, the target shrinks in proportion to the
   excess (down to a tenth of the cap), so a model that was too optimistic is corrected by what
   really happened. With nobody free soon (``A = 0``) nothing is dialled.

Sources: G. Koole, *Call Center Optimization* (MG Books, 2013), ch. 9 "Multi-channel and outbound", the
section on predictive dialing (dial so that the expected fraction of answered calls without a free agent
stays below a threshold, with the binomial model of answers); D. A. Samuelson, "Predictive dialing for
outbound telephone call centers", *Interfaces* 29(5), 1999, pp. 66-81 (the industry algorithm family:
agents-soon-free from handle-time statistics, answer rates measured on the fly, abandon-rate feedback).
The horizon (half the ring time plus the connect limit) was settled on a discrete simulation of the
rule (``tests/dialer/test_outbound_domain.py``): counting the whole ring time let 4.4 % be abandoned at
a 3 % target (agents counted as soon free freed after the answer); half of it held 2.0 % at 85 %
occupancy. The 3 % over a rolling window is the usual regulatory cap (e.g. Ofcom's 3 % per campaign
per 24 h, the US FTC's 3 % per 30 days), with 2 s as the connect limit.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

#: below this many measured dials the answer rate leans on the prior
MIN_MEASURED = 30


@dataclass(frozen=True, slots=True)
class PacingInput:
    free: int  # agents free now
    busy: int  # agents on a campaign call or in wrap-up (will free)
    in_flight: int  # dials placed and not yet answered or failed
    answer_rate: float  # probability that a dial is answered by a person
    handle: float  # mean handle time of a connected call (talk + wrap-up), seconds
    horizon: float  # seconds: half the mean time from dial to answer, plus the connect limit
    target: float  # abandon fraction to hold (after feedback)
    max_ratio: float = 3.0  # at most this many lines in flight per staffed agent
    #: the answer probability of each dial in flight (by its age); () = ``answer_rate`` for each
    flight_p: tuple[float, ...] = ()


def agents_soon_free(free: int, busy: int, horizon: float, handle: float) -> float:
    if handle <= 0:
        return float(free + busy)
    return free + busy * (1.0 - math.exp(-max(0.0, horizon) / handle))


def _binomial(n: int, p: float) -> Iterator[tuple[int, float]]:
    """(k, P(X = k)) for X ~ Binomial(n, p), by the recurrence (no factorials)."""
    if p <= 0.0:
        yield 0, 1.0
        return
    if p >= 1.0:
        yield n, 1.0
        return
    q = 1.0 - p
    prob = q**n
    if prob == 0.0:  # underflow for large n: fall back to logs
        for k in range(n + 1):
            log_p = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            yield k, math.exp(log_p + k * math.log(p) + (n - k) * math.log(q))
        return
    for k in range(n + 1):
        yield k, prob
        prob *= (n - k) / (k + 1) * p / q


def expected_abandon_fraction(n: int, p: float, available: float) -> float:
    """``E[(X - A)+] / E[X]`` for ``X ~ Binomial(n, p)``: the share of answered customers with no agent."""
    if n <= 0 or p <= 0.0:
        return 0.0
    overflow = sum(prob * (k - available) for k, prob in _binomial(n, p) if k > available)
    return overflow / (n * p)


def _add(pmf: list[float], p: float) -> list[float]:
    """The law of ``X + B`` for ``B ~ Bernoulli(p)`` independent of ``X`` (pmf by value)."""
    out = [v * (1.0 - p) for v in pmf] + [0.0]
    for k, v in enumerate(pmf):
        out[k + 1] += v * p
    return out


def _overflow(pmf: list[float], available: float) -> float:
    return sum(v * (k - available) for k, v in enumerate(pmf) if k > available)


def lines_to_dial(x: PacingInput) -> int:
    """How many new dials to place now (step 3 of the module's algorithm)."""
    available = agents_soon_free(x.free, x.busy, x.horizon, x.handle)
    if available <= 0 or x.answer_rate <= 0.0:
        return 0
    flight = x.flight_p or (x.answer_rate,) * x.in_flight
    pmf = [1.0]
    for p in flight:
        pmf = _add(pmf, p)
    mean = sum(flight)
    room = max(1, math.floor(x.max_ratio * (x.free + x.busy))) - x.in_flight
    n = 0
    while n < room:
        trial = _add(pmf, x.answer_rate)
        trial_mean = mean + x.answer_rate
        if _overflow(trial, available) / trial_mean > x.target:
            break
        pmf, mean, n = trial, trial_mean, n + 1
    return n


def abandon_target(cap: float, measured: float | None) -> float:
    """Step 4: the cap itself while the measured rate is under it, shrinking once it is over."""
    if measured is None or measured <= cap or cap <= 0:
        return cap
    return cap * max(0.1, 1.0 - (measured - cap) / cap)


class RollingRates:
    """What the pacer measures over a rolling time window: dial results (answered by a person or
    not), ring-to-answer times, handle times, and answered customers abandoned or connected."""

    def __init__(
        self, window: float = 3600.0, prior_answer: float = 0.3, prior_handle: float = 120.0
    ) -> None:
        self.window = window
        self.prior_answer = prior_answer
        self.prior_handle = prior_handle
        self._dials: deque[tuple[float, bool, float]] = deque()  # (at, by a person, seconds to resolve)
        self._by_age: tuple[list[float], list[float]] | None = None  # sorted durations: all, people
        self._by_age_at = 0.0
        self._prior = prior_answer
        self._rings: deque[tuple[float, float]] = deque()
        self._handles: deque[tuple[float, float]] = deque()
        self._answered: deque[tuple[float, bool]] = deque()  # (at, abandoned)

    def _trim(self, now: float) -> None:
        edge = now - self.window
        for q in (self._dials, self._rings, self._handles, self._answered):
            while q and q[0][0] < edge:
                q.popleft()

    def dial_ended(
        self, now: float, human: bool, ring: float | None = None, duration: float | None = None
    ) -> None:
        """A dial ended: answered by a person or not, its ring time if answered, and how long it took
        to resolve (answer, busy, failure, timeout)."""
        self._dials.append((now, human, duration if duration is not None else (ring or 0.0)))
        if ring is not None:
            self._rings.append((now, ring))
        self._trim(now)

    def answer_rate_at(self, now: float, age: float) -> float:
        """Probability that a dial ringing for ``age`` seconds is answered by a person: the share of
        people among the measured dials that lasted longer (blended with the overall rate)."""
        if self._by_age is None or now - self._by_age_at >= 1.0:  # rebuilt at most once a second
            self._trim(now)
            every = sorted(d for _, _, d in self._dials)
            people = sorted(d for _, h, d in self._dials if h)
            self._by_age, self._by_age_at = (every, people), now
            self._prior = self.answer_rate(now)
        every, people = self._by_age
        longer = len(every) - bisect.bisect_right(every, age)
        humans = len(people) - bisect.bisect_right(people, age)
        return (humans + self._prior * MIN_MEASURED / 3) / (longer + MIN_MEASURED / 3)

    def answered(self, now: float, abandoned: bool) -> None:
        self._answered.append((now, abandoned))
        self._trim(now)

    def handled(self, now: float, seconds: float) -> None:
        self._handles.append((now, seconds))
        self._trim(now)

    def answer_rate(self, now: float) -> float:
        self._trim(now)
        n = len(self._dials)
        humans = sum(1 for _, h, _ in self._dials if h)
        # a Bayesian blend: the prior counts as MIN_MEASURED dials
        return (humans + self.prior_answer * MIN_MEASURED) / (n + MIN_MEASURED)

    def ring_time(self, now: float, default: float = 8.0) -> float:
        self._trim(now)
        if not self._rings:
            return default
        return sum(r for _, r in self._rings) / len(self._rings)

    def handle_time(self, now: float) -> float:
        self._trim(now)
        if not self._handles:
            return self.prior_handle
        return sum(h for _, h in self._handles) / len(self._handles)

    def abandon_rate(self, now: float) -> float | None:
        self._trim(now)
        if not self._answered:
            return None
        return sum(1 for _, a in self._answered if a) / len(self._answered)

    def counts(self, now: float) -> tuple[int, int]:
        """(answered by a person, abandoned) in the window."""
        self._trim(now)
        return len(self._answered), sum(1 for _, a in self._answered if a)
