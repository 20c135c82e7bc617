"""Spacing of calls so that one invocation stays under its share of a vendor's per-minute limit.

This is pacing before a call, not a retry: a throttled call is never retried in the worker.
"""

from __future__ import annotations

import threading
import time


class RateGate:
    def __init__(self, per_minute: float, clock=time.monotonic, sleep=time.sleep):
        self._interval = 60.0 / per_minute
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self, latest: float | None = None) -> bool:
        """Block until this caller's slot; slots are handed out evenly, first come first served.

        `latest` (on this gate's clock) is the last moment a call may still start: a slot after
        it is not taken, nothing is waited for, and False says the call must not be made."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            if latest is not None and slot > latest:
                return False
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)
        return True
