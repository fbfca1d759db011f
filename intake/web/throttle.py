"""Progressive delays on failed sign-ins, shared by every web process (Redis), never a lockout.

Two counters, each with a window of ``WINDOW`` seconds since its last failure:

- per (account name, client address): ``ACCOUNT_FREE`` failures, then each further one makes
  that pair wait 2, 4, 8 ... seconds, at most ``ACCOUNT_CAP``. Someone guessing a named
  account's password slows down only their own attempts on it: the account's owner, from
  another address, signs in as usual. (The old per-account lock let anyone lock out anyone.)
- per client address: ``ADDRESS_FREE`` failures (a spray over many names), then the same
  doubling up to ``ADDRESS_CAP``: a short wait, never a lock.

The client address is the real one only when the web knows how many proxies to trust
(``trusted_proxies``, werkzeug's ProxyFix); otherwise every member of staff behind the proxy
would share the proxy's address. Unknown names are counted exactly like known ones, so the
answers never tell them apart. If Redis is unreachable, each process counts for itself.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

import redis

log = logging.getLogger(__name__)

WINDOW = 15 * 60
ACCOUNT_FREE, ACCOUNT_CAP = 3, 300
ADDRESS_FREE, ADDRESS_CAP = 20, 60
PREFIX = "docintake:login:"


def _delay(failures: int, free: int, cap: int) -> float:
    return 0.0 if failures <= free else float(min(2 ** (failures - free), cap))


def account_key(name: str, ip: str) -> str:
    digest = hashlib.sha256(f"{name.casefold()}\0{ip}".encode()).hexdigest()[:32]
    return f"account:{digest}"


def address_key(ip: str) -> str:
    return "address:" + hashlib.sha256(ip.encode()).hexdigest()[:32]


class _Memory:
    """The per-process stand-in for Redis: key -> (failures, last failure, wait until)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    def failed(self, key: str, free: int, cap: int, now: float) -> float:
        with self._lock:
            count, last, _until = self._data.get(key, (0, now, now))
            count = count + 1 if now - last < WINDOW else 1
            delay = _delay(count, free, cap)
            self._data[key] = (count, now, now + delay)
            if len(self._data) > 20_000:  # bound memory under a spray of addresses
                for old in [k for k, v in self._data.items() if now - v[1] > WINDOW][:10_000]:
                    del self._data[old]
            return delay

    def until(self, keys: list[str]) -> float:
        with self._lock:
            return max((self._data.get(k, (0, 0.0, 0.0))[2] for k in keys), default=0.0)

    def clear(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class LoginThrottle:
    """``wait(name, ip)`` seconds before an attempt is considered; ``failed`` / ``succeeded`` after it."""

    def __init__(self, connect=None, clock=time.time) -> None:
        self._connect = connect  # () -> redis.Redis, or None: this process only
        self._redis: redis.Redis | None = None
        self._memory = _Memory()
        self._clock = clock

    def _conn(self) -> redis.Redis | None:
        if self._connect is not None and self._redis is None:
            try:
                self._redis = self._connect()
            except Exception as exc:  # the embedded Redis could not start, ...
                raise redis.ConnectionError(str(exc)) from exc
        return self._redis

    def wait(self, name: str, ip: str) -> float:
        keys = [account_key(name, ip), address_key(ip)]
        now = self._clock()
        try:
            conn = self._conn()
            if conn is not None:
                values = conn.mget([PREFIX + k + ":until" for k in keys])
                until = max((float(v) for v in values if v is not None), default=0.0)
                return max(0.0, until - now)
        except redis.RedisError:
            log.warning("login throttle: Redis unavailable, counting in this process", exc_info=True)
        return max(0.0, self._memory.until(keys) - now)

    def failed(self, name: str, ip: str) -> float:
        """Count a failure; the wait it starts for this name from this address (seconds)."""
        now = self._clock()
        waits = []
        for key, free, cap in ((account_key(name, ip), ACCOUNT_FREE, ACCOUNT_CAP),
                               (address_key(ip), ADDRESS_FREE, ADDRESS_CAP)):
            try:
                waits.append(self._failed_redis(key, free, cap, now))
            except redis.RedisError:
                log.warning("login throttle: Redis unavailable, counting in this process", exc_info=True)
                waits.append(self._memory.failed(key, free, cap, now))
        return max(waits)

    def _failed_redis(self, key: str, free: int, cap: int, now: float) -> float:
        conn = self._conn()
        if conn is None:
            return self._memory.failed(key, free, cap, now)
        pipe = conn.pipeline()
        pipe.incr(PREFIX + key)
        pipe.expire(PREFIX + key, WINDOW)
        count = int(pipe.execute()[0])
        delay = _delay(count, free, cap)
        if delay:
            conn.set(PREFIX + key + ":until", repr(now + delay), ex=int(delay) + 1)
        return delay

    def succeeded(self, name: str, ip: str) -> None:
        key = account_key(name, ip)
        self._memory.clear(key)
        try:
            conn = self._conn()
            if conn is not None:
                conn.delete(PREFIX + key, PREFIX + key + ":until")
        except redis.RedisError:
            pass
