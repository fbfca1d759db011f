"""One poller at a time per mailbox: a Redis lock with a time-to-live.

redis-py's :class:`redis.lock.Lock` stores a random token under the key, so only
the holder can extend or release it; the TTL frees the mailbox if the holder
dies without releasing. The holder calls :meth:`MailboxLock.keep_alive` while it
works: that resets the TTL (at most every ``ttl / 3`` seconds) and raises
:class:`LockLost` if the lock expired and someone else may hold it now.

Two pollers on one mailbox would not corrupt anything (the database's unique
keys make the second recording a no-op), but they would fetch and move the same
mails twice over; the lock keeps that from happening.
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis
from redis.exceptions import LockError, LockNotOwnedError

log = logging.getLogger(__name__)

KEY_PREFIX = "docintake:poller-lock:"
DEFAULT_TTL = 300.0


class LockLost(RuntimeError):
    """The lock expired (or was taken over) while we worked: stop, the next cycle starts over."""


def lock_key(mailbox_name: str) -> str:
    return KEY_PREFIX + hashlib.sha256(mailbox_name.encode("utf-8")).hexdigest()[:32]


class MailboxLock:
    """``with MailboxLock(conn, "imap://u@h:993") as lock: ... lock.keep_alive() ...``.

    ``acquire()`` does not wait: it returns False when another poller holds the mailbox.
    Used as a context manager it raises :class:`MailboxBusy` instead.
    """

    def __init__(self, connection: redis.Redis, mailbox_name: str, ttl: float = DEFAULT_TTL) -> None:
        self.mailbox_name = mailbox_name
        self.ttl = float(ttl)
        self.key = lock_key(mailbox_name)
        self._lock = connection.lock(self.key, timeout=self.ttl, blocking=False, thread_local=False)
        self._renewed = 0.0

    def acquire(self) -> bool:
        if self._lock.acquire(blocking=False):
            self._renewed = time.monotonic()
            return True
        return False

    @property
    def held(self) -> bool:
        return self._lock.owned()

    def keep_alive(self, force: bool = False) -> None:
        """Reset the TTL (cheap: at most every ttl/3 seconds unless ``force``); raise LockLost if it is gone."""
        now = time.monotonic()
        if not force and now - self._renewed < self.ttl / 3:
            return
        try:
            self._lock.reacquire()
        except (LockNotOwnedError, LockError) as exc:
            raise LockLost(f"the poller lock for {self.mailbox_name} expired while polling") from exc
        self._renewed = now

    def release(self) -> None:
        try:
            self._lock.release()
        except LockNotOwnedError:
            log.warning("the poller lock for %s had already expired", self.mailbox_name)
        except LockError:
            pass  # not held
        except redis.RedisError:
            log.warning("could not release the poller lock for %s (it expires by itself)", self.mailbox_name)

    def __enter__(self) -> "MailboxLock":
        if not self.acquire():
            raise MailboxBusy(f"another poller is working on {self.mailbox_name}")
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class MailboxBusy(RuntimeError):
    """Another poller holds the mailbox's lock."""
