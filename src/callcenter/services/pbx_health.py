"""PBX health: the AMI Ping round trip, its recent history, and the "PBX slow" supervisor alert.

Under overload Asterisk's Ping round trip rises from about 1 ms to about 1 s before calls suffer (and a
deadlocked Asterisk stops answering with its socket open): the round trip is the early warning. The AMI
link reports each measured round trip (``AmiLink.on_ping``); this module keeps the last
``history`` seconds of them and raises an alert once every ping for ``slow_for`` seconds took
``slow_ms`` or longer, cleared by the first ping under the threshold.

Shown on the wallboard (the KPI service adds :meth:`PbxHealth.view` to its snapshot and updates, the
alert beside the queue alerts) and in ``/metrics`` (:meth:`PbxHealth.metrics`: the last round trip,
the recent maximum, the alert gauge and a histogram of every round trip).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Histogram bucket bounds (seconds) of ``callcenter_pbx_ping_rtt_seconds``: 1 ms (healthy) to 2.5 s.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True, slots=True)
class PingSample:
    at: float  # epoch seconds the reply came
    rtt: float  # seconds


@dataclass(frozen=True, slots=True)
class SlowPbx:
    """The PBX has been slow since ``since`` (every ping at least the threshold)."""

    since: float
    raised_at: float
    worst: float  # the slowest round trip of the episode (seconds)


class PbxHealth:
    def __init__(
        self,
        *,
        slow_ms: float = 250.0,
        slow_for: float = 30.0,
        history: float = 300.0,
        clock: Callable[[], float] = time.time,
        on_alert: Callable[[], None] | None = None,
    ) -> None:
        self.slow = slow_ms / 1000.0
        #: called when the alert is raised or cleared (the wallboard publishes at once, not at its next tick)
        self._on_alert = on_alert
        self.slow_for = slow_for
        self.history = history
        self._clock = clock
        self._samples: deque[PingSample] = deque()
        self._slow_since: float | None = None
        self._worst = 0.0
        self.alert: SlowPbx | None = None
        #: bumped on every change (sample, alert): the wallboard publishes when it moved
        self.version = 0
        # the histogram (cumulative from the start)
        self._bucket_counts = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0
        self.alerts_raised = 0

    # --- input (the AMI link's watchdog, on the loop; never blocks) ---------------------------------
    def record(self, rtt: float) -> None:
        """One measured Ping round trip (seconds)."""
        alerting = self.alert is not None
        now = self._clock()
        self._samples.append(PingSample(now, rtt))
        self._count += 1
        self._sum += rtt
        for i, bound in enumerate(BUCKETS):
            if rtt <= bound:
                self._bucket_counts[i] += 1
                break
        self._prune(now)
        if rtt >= self.slow:
            if self._slow_since is None:
                self._slow_since, self._worst = now, rtt
            self._worst = max(self._worst, rtt)
            if self.alert is None and now - self._slow_since >= self.slow_for:
                self.alert = SlowPbx(self._slow_since, now, self._worst)
                self.alerts_raised += 1
                log.warning(
                    "PBX slow: Ping round trip %.0f ms for %.0f s (threshold %.0f ms for %.0f s)",
                    rtt * 1000,
                    now - self._slow_since,
                    self.slow * 1000,
                    self.slow_for,
                )
            elif self.alert is not None:
                self.alert = SlowPbx(self.alert.since, self.alert.raised_at, self._worst)
        else:
            if self.alert is not None:
                log.info("PBX back to normal: Ping round trip %.1f ms", rtt * 1000)
            self._slow_since, self.alert = None, None
        self.version += 1
        if (self.alert is not None) != alerting and self._on_alert is not None:
            self._on_alert()

    def _prune(self, now: float) -> None:
        while self._samples and self._samples[0].at < now - self.history:
            self._samples.popleft()

    # --- output -------------------------------------------------------------------------------------
    @property
    def last(self) -> PingSample | None:
        return self._samples[-1] if self._samples else None

    def recent(self) -> list[PingSample]:
        self._prune(self._clock())
        return list(self._samples)

    def view(self) -> dict[str, object]:
        """What the wallboard shows: the last round trip, the history, the alert (milliseconds)."""
        samples = self.recent()
        last = samples[-1] if samples else None
        alert = self.alert
        return {
            "ping_ms": None if last is None else round(last.rtt * 1000, 1),
            "at": None if last is None else last.at,
            "max_ms": round(max(s.rtt for s in samples) * 1000, 1) if samples else None,
            "history": [[round(s.at, 3), round(s.rtt * 1000, 1)] for s in samples],
            "history_seconds": self.history,
            "threshold_ms": round(self.slow * 1000, 1),
            "slow_for": self.slow_for,
            "alert": None
            if alert is None
            else {
                "kind": "pbx_slow",
                "since": alert.since,
                "raised_at": alert.raised_at,
                "worst_ms": round(alert.worst * 1000, 1),
                "message": (
                    f"PBX slow: Ping round trip {self._ms(last)} for {self._clock() - alert.since:.0f} s "
                    f"(threshold {self.slow * 1000:.0f} ms for {self.slow_for:g} s)"
                ),
            },
        }

    @staticmethod
    def _ms(sample: PingSample | None) -> str:
        return "—" if sample is None else f"{sample.rtt * 1000:.0f} ms"

    def metrics(self) -> dict[str, float]:
        """Prometheus series: gauges and the ``callcenter_pbx_ping_rtt_seconds`` histogram."""
        samples = self.recent()
        out = {
            "callcenter_pbx_ping_recent_max_seconds": max((s.rtt for s in samples), default=0.0),
            "callcenter_pbx_slow": 1.0 if self.alert is not None else 0.0,
            "callcenter_pbx_slow_alerts_total": float(self.alerts_raised),
        }
        cumulative = 0
        for bound, count in zip(BUCKETS, self._bucket_counts, strict=True):
            cumulative += count
            out[f'callcenter_pbx_ping_rtt_seconds_bucket{{le="{bound:g}"}}'] = float(cumulative)
        out['callcenter_pbx_ping_rtt_seconds_bucket{le="+Inf"}'] = float(self._count)
        out["callcenter_pbx_ping_rtt_seconds_sum"] = self._sum
        out["callcenter_pbx_ping_rtt_seconds_count"] = float(self._count)
        return out
