"""How much each learner has going at once, counted across all their sockets.

A learner can open many sockets (tabs, or a script opening forty); the lab's
limits on sockets, streams, builds, actions in flight and app-proxy requests
hold per learner, not per socket. Each is a slot: taken when the thing
starts, given back exactly once when it ends.

The counts live in this process (`LocalSlots`). A deployment with several
server processes needs one shared store instead; it implements the same
three methods of `SlotStore` (in Redis: INCR, compare, DECR on refusal; each
key a lease with an expiry renewed while held, so the slots of a process
that died are freed) and is installed with `use_store`.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class SlotStore(Protocol):
    """Counters by key; `take` is atomic (no two takers share the last slot)."""

    def take(self, key: str, limit: int) -> bool: ...

    def give_back(self, key: str) -> None: ...

    def count(self, key: str) -> int: ...


class LocalSlots:
    """Counters in this process, safe to use from the event loop and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def take(self, key: str, limit: int) -> bool:
        with self._lock:
            held = self._counts.get(key, 0)
            if held >= limit:
                return False
            self._counts[key] = held + 1
            return True

    def give_back(self, key: str) -> None:
        with self._lock:
            held = self._counts.get(key, 0) - 1
            if held > 0:
                self._counts[key] = held
            else:
                self._counts.pop(key, None)

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


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

    def __init__(self, counter: str):
        self.counter = counter
        self._store = _store
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._store.give_back(self.counter)

    @property
    def held(self) -> bool:
        return self._held


def take(kind: str, owner: Any, limit: int) -> Slot | None:
    """A slot of `kind` for `owner` if fewer than `limit` are taken, else None."""
    counter = key(kind, owner)
    if not _store.take(counter, limit):
        return None
    return Slot(counter)


def count(kind: str, owner: Any) -> int:
    return _store.count(key(kind, owner))
