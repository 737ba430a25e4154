"""How much each learner has going at once, counted across all their sockets.

A learner can open many sockets (tabs, or a script opening forty); the lab's
limits on sockets, streams, builds, actions in flight and app-proxy requests
hold per learner, not per socket. Each is a slot: taken when the thing
starts, given back exactly once when it ends.

One server process counts in its memory (`LocalSlots`). Several server
processes share Redis (`RedisSlots`, installed at start-up when
DOCKERLAB_REDIS_URL is set), so a learner whose tabs land on different
processes still has one set of limits. There each slot is a member of a
sorted set scored with its lease's end: taking one is one Lua script (drop
ended leases, compare the count with the limit, add), so no two takers share
the last slot; a process renews the leases it holds, so the slots of a
process that died free themselves when their leases end.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any, Protocol

log = logging.getLogger(__name__)


class SlotStore(Protocol):
    """Counters by key; `take` is atomic (no two takers share the last slot)."""

    def take(self, key: str, limit: int) -> str | None:
        """A token for a newly taken slot of `key`, or None at the limit."""

    def give_back(self, key: str, token: str) -> None: ...

    def count(self, key: str) -> int: ...


class LocalSlots:
    """Counters in this process, safe to use from the event loop and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def take(self, key: str, limit: int) -> str | None:
        with self._lock:
            held = self._counts.get(key, 0)
            if held >= limit:
                return None
            self._counts[key] = held + 1
            return "local"

    def give_back(self, key: str, token: str) -> None:
        with self._lock:
            held = self._counts.get(key, 0) - 1
            if held > 0:
                self._counts[key] = held
            else:
                self._counts.pop(key, None)

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


# KEYS[1]: the slot set; ARGV: limit, token, lease seconds. The server's own
# clock decides when a lease ends, so processes on machines whose clocks
# differ agree.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 2))
return 1
"""
# KEYS: slot sets; ARGV: lease seconds, then the tokens, one per key.
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', t + lease, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(lease * 2))
end
return #KEYS
"""
_COUNT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
return redis.call('ZCARD', KEYS[1])
"""


class RedisSlots:
    """Counters shared by every server process through Redis, held as leases.

    When Redis cannot be reached a slot is counted in this process instead
    (`fallback`), so the lab keeps working with per-process limits rather
    than refusing everyone; the failure is logged.
    """

    def __init__(self, url: str, *, lease_s: float = 30.0, prefix: str = "dockerlab") -> None:
        import redis  # only a multi-process deployment needs it

        self.lease_s = lease_s
        self.prefix = f"{prefix}:slots:"
        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._take = self._redis.register_script(_TAKE)
        self._renew = self._redis.register_script(_RENEW)
        self._count = self._redis.register_script(_COUNT)
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # token -> key, renewed while held
        self.fallback = LocalSlots()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _start_renewer(self) -> None:
        if self._renewer is None or not self._renewer.is_alive():
            self._renewer = threading.Thread(
                target=self._renew_loop, name="slot-leases", daemon=True
            )
            self._renewer.start()

    def take(self, key: str, limit: int) -> str | None:
        token = secrets.token_hex(8)
        try:
            taken = self._take(keys=[self.prefix + key], args=[limit, token, self.lease_s])
        except Exception:  # noqa: BLE001 - any Redis failure: count here instead
            log.warning("slots: Redis unreachable, counting %s in this process", key)
            local = self.fallback.take(key, limit)
            return None if local is None else "local:" + token
        if not taken:
            return None
        with self._lock:
            self._held[token] = key
            self._start_renewer()
        return token

    def give_back(self, key: str, token: str) -> None:
        if token.startswith("local:"):
            self.fallback.give_back(key, token)
            return
        with self._lock:
            self._held.pop(token, None)
        try:
            self._redis.zrem(self.prefix + key, token)
        except Exception:  # noqa: BLE001 - the lease ends on its own
            log.warning("slots: could not give back %s; its lease ends in %ss", key, self.lease_s)

    def count(self, key: str) -> int:
        try:
            shared = int(self._count(keys=[self.prefix + key]))
        except Exception:  # noqa: BLE001
            shared = 0
        return shared + self.fallback.count(key)

    def renew(self) -> int:
        """Extend the lease of every slot this process holds; how many."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return 0
        keys = [self.prefix + key for _, key in held]
        tokens = [token for token, _ in held]
        return int(self._renew(keys=keys, args=[self.lease_s, *tokens]))

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except Exception:  # try again at the next beat
                log.warning("slots: renewing leases in Redis failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._redis.close()


_store: SlotStore = LocalSlots()


def use_store(store: SlotStore) -> SlotStore:
    """Install another store (shared, or a fresh one in tests); return the old one."""
    global _store
    old, _store = _store, store
    return old


def key(kind: str, owner: Any) -> str:
    """The counter of one kind ("sockets", "streams", ...) for one owner (a user id)."""
    return f"{kind}:{owner}"


class Slot:
    """One taken slot; `release()` gives it back, once, however often it is called."""

    def __init__(self, counter: str, token: str):
        self.counter = counter
        self.token = token
        self._store = _store
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._store.give_back(self.counter, self.token)

    @property
    def held(self) -> bool:
        return self._held


def take(kind: str, owner: Any, limit: int) -> Slot | None:
    """A slot of `kind` for `owner` if fewer than `limit` are taken, else None."""
    counter = key(kind, owner)
    token = _store.take(counter, limit)
    if token is None:
        return None
    return Slot(counter, token)


def count(kind: str, owner: Any) -> int:
    return _store.count(key(kind, owner))
