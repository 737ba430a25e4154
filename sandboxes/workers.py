"""Where the lab's blocking work runs: thread pools no learner can fill for others.

Engine calls block for as long as the engine takes (a `stop` waits for the
container to end). Run on one shared executor, a few learners' slow calls
would hold every thread, and everyone else's clicks would queue behind them.
So each pool lets one learner have at most `per_user` calls running; their
further calls wait on the event loop (holding no thread) until one of their
own ends. A pool of T threads therefore serves at least T / per_user
learners at once, whatever any of them does.

Two pools, so that following logs or starting a build never waits behind
anyone's slow action:
- "engine": the actions (run, stop, remove, state, ...);
- "streams": opening and closing streams (builds, log follows, pushes).

A call whose caller goes away (the socket closed) keeps its slot until its
thread has finished: a learner cannot free slots by reconnecting.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")
# Prefix of the pools' thread names.
THREAD_PREFIX = "dockerlab-pool"


class FairPool:
    """A thread pool in which each user has at most `per_user` calls running."""

    def __init__(self, name: str, threads: int, per_user: int):
        self.name = name
        self.threads = threads
        self.per_user = per_user
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=f"{THREAD_PREFIX}-{name}")
        self._lock = threading.Lock()
        self._running: dict[Hashable, int] = {}
        self._waiting: dict[Hashable, deque] = {}

    def running(self, user: Hashable) -> int:
        with self._lock:
            return self._running.get(user, 0)

    def waiting(self, user: Hashable) -> int:
        with self._lock:
            return len(self._waiting.get(user, ()))

    async def run(self, user: Hashable, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`func(*args, **kwargs)` in a thread of the pool, counted against `user`."""
        await self._enter(user)
        try:
            context = contextvars.copy_context()
            job = self._executor.submit(context.run, functools.partial(func, *args, **kwargs))
        except BaseException:
            self._leave(user)
            raise
        job.add_done_callback(lambda _: self._leave(user))
        return await asyncio.wrap_future(job)

    async def _enter(self, user: Hashable) -> None:
        with self._lock:
            if self._running.get(user, 0) < self.per_user and not self._waiting.get(user):
                self._running[user] = self._running.get(user, 0) + 1
                return
            loop = asyncio.get_running_loop()
            turn = loop.create_future()
            entry = (loop, turn)
            self._waiting.setdefault(user, deque()).append(entry)
        try:
            await turn
        except asyncio.CancelledError:
            with self._lock:
                queue = self._waiting.get(user)
                if queue is not None and entry in queue:
                    queue.remove(entry)
                    if not queue:
                        del self._waiting[user]
                    raise
            # The slot was handed over already: give it on (see _grant).
            if turn.done() and not turn.cancelled():
                self._leave(user)
            raise

    def _leave(self, user: Hashable) -> None:
        """One of the user's calls ended (any thread): wake their next one, or count down."""
        with self._lock:
            queue = self._waiting.get(user)
            if queue:
                loop, turn = queue.popleft()
                if not queue:
                    del self._waiting[user]
            else:
                left = self._running.get(user, 0) - 1
                if left > 0:
                    self._running[user] = left
                else:
                    self._running.pop(user, None)
                return
        # The slot passes to the waiter as it is (the running count stays).
        try:
            loop.call_soon_threadsafe(self._grant, user, turn)
        except RuntimeError:  # that waiter's loop is gone
            self._leave(user)

    def _grant(self, user: Hashable, turn: asyncio.Future) -> None:
        if turn.cancelled():
            self._leave(user)
        else:
            turn.set_result(None)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pools: dict[str, FairPool] = {}
_pools_lock = threading.Lock()


def pool(name: str) -> FairPool:
    """The process's pool called `name` ("engine" or "streams"), made on first use."""
    with _pools_lock:
        found = _pools.get(name)
        if found is None:
            threads = settings.DOCKERLAB_ENGINE_THREADS
            if name == "streams":
                threads = max(4, threads // 2)
            found = _pools[name] = FairPool(
                name, threads, settings.DOCKERLAB_ENGINE_CALLS_PER_USER
            )
        return found


async def engine(user: Hashable, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking engine action for `user` in the "engine" pool."""
    return await pool("engine").run(user, func, *args, **kwargs)


async def streams(user: Hashable, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Open or close a stream for `user` in the "streams" pool."""
    return await pool("streams").run(user, func, *args, **kwargs)
