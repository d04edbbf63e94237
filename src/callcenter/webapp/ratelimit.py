"""Login throttling: after ``max_failures`` failed logins for one username from one address within
``window`` seconds, further attempts are refused (HTTP 429) until the oldest failure ages out.

In-process memory only: with several instances each keeps its own count (good enough against online
guessing; a shared limiter belongs in ``state/`` if ever needed). Memory is bounded by ``max_keys``.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginRateLimiter:
    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        times = self._recent((username, address))
        if times is None or len(times) < self.max_failures:
            return 0.0
        return max(1.0, times[0] + self.window - self._clock())

    def failed(self, username: str, address: str) -> None:
        key = (username, address)
        times = self._recent(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.max_failures)
        self._failures.move_to_end(key)
        times.append(self._clock())
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username, address), None)
