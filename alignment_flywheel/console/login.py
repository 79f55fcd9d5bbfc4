"""Logins that cannot slow the server: limits on failures, and the hashing on its own executor.

Rules:

* Failed logins are limited three ways (:class:`LoginLimits`): per operator name
  (:data:`~.auth.MAX_FAILURES` in :data:`~.auth.FAILURE_WINDOW_S`, then that name is refused:
  :class:`~.auth.NameLocked`, 401 as before), per client address (:data:`PER_ADDRESS_FAILURES`
  in the same window, then every login from that address is refused, also with the right
  password) and across all names and addresses (a budget of :data:`GLOBAL_FAILURES_PER_MINUTE`,
  :data:`GLOBAL_BURST` at once, refilled continuously). An address or budget refusal is
  :class:`LoginLimited` (429 with ``Retry-After``); nothing is hashed for a refused login. The
  address is the TCP peer's: ``X-Forwarded-For`` is not believed (behind a proxy every client
  shares the proxy's limit).
* Only failures count; a success forgets the name's failures, never the address's (a valid
  account must not reset a spraying address). Old entries are forgotten as the window passes
  (oldest first), so a spray of new names cannot fill memory.
* The scrypt work runs on :class:`PasswordChecker`'s own executor (:data:`HASH_WORKERS` threads;
  scrypt releases the GIL), never on the thread pool that decides proposals; at most
  :data:`MAX_WAITING` logins wait for it, more are :class:`LoginBusy` (429) at once. On Linux its
  thread runs at niceness :data:`HASH_NICENESS`, so decisions get the CPU first. A spray
  therefore costs at most one low-priority core and a few queued requests, whatever its rate.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from alignment_flywheel.console.auth import (
    MAX_FAILURES,
    ConsoleAuthError,
    FailureWindow,
    LoginThrottle,
    Operators,
)

PER_ADDRESS_FAILURES = 10
GLOBAL_FAILURES_PER_MINUTE = 30
GLOBAL_BURST = 30
HASH_WORKERS = 1
MAX_WAITING = 4
HASH_NICENESS = 10


class LoginLimited(ConsoleAuthError):
    """A login refused before any hashing, for ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LoginBusy(LoginLimited):
    """Too many logins wait for the password hashing already."""


class LoginLimits:
    """The three limits of the module docstring. Thread-safe."""

    def __init__(
        self,
        *,
        per_name: int = MAX_FAILURES,
        per_address: int = PER_ADDRESS_FAILURES,
        global_per_minute: float = GLOBAL_FAILURES_PER_MINUTE,
        global_burst: int = GLOBAL_BURST,
    ) -> None:
        self._names = LoginThrottle(per_name)
        self._addresses = FailureWindow(per_address)
        self._rate_per_s = global_per_minute / 60.0
        self._burst = float(global_burst)
        self._budget: tuple[float, float | None] = (float(global_burst), None)
        self._lock = threading.Lock()

    def _refilled(self, now: float) -> float:
        budget, since = self._budget
        if since is None:
            return budget
        return min(self._burst, budget + (now - since) * self._rate_per_s)

    def check(self, name: str, address: str, now: float | None = None) -> None:
        """Raise if a login of ``name`` from ``address`` must not be tried now."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            wait = self._addresses.wait_s(address, moment)
            if wait > 0:
                raise LoginLimited(
                    f"too many failed logins from this address; try again in {math.ceil(wait)} s",
                    wait,
                )
            budget = self._refilled(moment)
            if budget < 1.0 - 1e-9:
                wait = (1.0 - budget) / self._rate_per_s
                raise LoginLimited(
                    f"too many failed logins on this server; try again in {math.ceil(wait)} s",
                    wait,
                )
            self._names.check(name, moment)

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        with self._lock:
            self._names.failed(name, moment)
            self._addresses.failed(address, moment)
            self._budget = (max(0.0, self._refilled(moment) - 1.0), moment)

    def succeeded(self, name: str) -> None:
        self._names.succeeded(name)

    def tracked(self) -> int:
        """How many names and addresses are remembered."""
        with self._lock:
            return len(self._names) + len(self._addresses)


def _lower_priority() -> None:
    """On Linux, where the niceness is per thread: the calling thread yields the CPU to others."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class PasswordChecker:
    """Checks passwords on an executor of its own, with a bounded queue."""

    def __init__(
        self, operators: Operators, workers: int = HASH_WORKERS, waiting: int = MAX_WAITING
    ) -> None:
        self._operators = operators
        self._executor = ThreadPoolExecutor(
            workers, thread_name_prefix="console-password", initializer=_lower_priority
        )
        self._slots = threading.BoundedSemaphore(workers + waiting)

    async def check(self, name: str, password: str) -> str:
        """``name`` if the password is right; ConsoleAuthError if not, LoginBusy if too many
        checks are under way."""
        if not self._slots.acquire(blocking=False):
            raise LoginBusy("the server is busy checking other logins; try again in 1 s", 1.0)
        try:
            future: Future[str] = self._executor.submit(self._operators.check, name, password)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)
