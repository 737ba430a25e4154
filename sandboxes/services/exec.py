"""`docker exec CONTAINER COMMAND`: one command in a running container, its output streamed.

Non-interactive only (no stdin, no terminal): the command runs, prints, and
ends. The container is found among the sandbox's own by label first, so
another learner's container is "not found" like one that never existed.

Invariants:
- the command is a list of words from our own parse (sandboxes.commands,
  or containers.parse_command for a string), never a shell line; a shell
  runs only when the learner asks for one (`sh -c "..."`);
- it runs without extra privileges, as the container's own user, inside the
  container's limits (memory, processes, capabilities);
- it is bounded in time: it runs under the image's `timeout` program, which
  kills it after DOCKERLAB_EXEC_SECONDS (images without one - rare - are
  only stopped being read at that point, and the process ends with its
  container); and in output: past DOCKERLAB_EXEC_MAX_BYTES the reading
  stops and says so;
- `exit_code` is the command's own once it ended (124 or 137 when the time
  limit killed it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from engine import client
from sandboxes.errors import SandboxError
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.containers import container_view, find_container, parse_command

log = logging.getLogger(__name__)

# The program a command runs under for its time limit, with its arguments
# (coreutils and busybox both take these).
TIMEOUT = ("timeout", "-s", "KILL")
# How an engine says the wrapper itself is missing from the image.
_NO_TIMEOUT = ('exec: "timeout"', "timeout: no such file", '"timeout": executable file not found')


def _limit_note(what: str) -> bytes:
    return f"\n[dockerlab: {what}]\n".encode()


class ExecStream:
    """Output chunks (bytes, stdout and stderr interleaved) of one exec.

    Iterate once. `close()` from any thread stops the reading. After the
    iteration `exit_code` is the command's exit code (None if unknown) and
    `limited` says which bound stopped it, if one did.
    """

    def __init__(self, sandbox: Sandbox, container_id: str, name: str, argv: list[str]):
        self.sandbox = sandbox
        self.container_id = container_id
        self.container = name
        self.argv = argv
        self.seconds = settings.DOCKERLAB_EXEC_SECONDS
        self.max_bytes = settings.DOCKERLAB_EXEC_MAX_BYTES
        self.exit_code: int | None = None
        self.limited: str | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._stream = None
        self._exec_id: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # already closed by the engine
                log.debug("closing an exec stream failed", exc_info=True)

    def _start(self, argv: list[str]):
        api = client.api(timeout=self.seconds + 15)
        with engine_call(self.sandbox):
            created = api.exec_create(
                self.container_id, argv, stdout=True, stderr=True, stdin=False, tty=False,
                privileged=False,
            )
            self._exec_id = created["Id"]
            stream = api.exec_start(self._exec_id, stream=True, tty=False, demux=False)
        with self._lock:
            if self._closed.is_set():
                stream.close()
                return None
            self._stream = stream
        return stream

    def _read(self, stream) -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in stream:
                if self.closed:
                    return
                if not isinstance(chunk, bytes | bytearray) or not chunk:
                    continue
                room = self.max_bytes - sent
                if len(chunk) >= room:
                    if room > 0:
                        yield bytes(chunk[:room])
                    self.limited = "output"
                    yield _limit_note(
                        f"the output passed {self.max_bytes // 1024} KiB; the lab stopped "
                        "reading it"
                    )
                    return
                sent += len(chunk)
                yield bytes(chunk)
        except Exception:
            if not self.closed:
                log.info("exec stream in %s ended with an error", self.container, exc_info=True)

    def _finish(self) -> dict:
        if self._exec_id is None:
            return {}
        try:
            with engine_call(self.sandbox):
                return client.api().exec_inspect(self._exec_id) or {}
        except SandboxError:
            return {}

    def __iter__(self) -> Iterator[bytes]:
        timer = threading.Timer(self.seconds + 5, self._timed_out)
        timer.daemon = True
        timer.start()
        began = time.monotonic()
        try:
            stream = self._start([*TIMEOUT, str(self.seconds), *self.argv])
            if stream is None:
                return
            head = b""
            chunks = self._read(stream)
            for chunk in chunks:
                if len(head) < 300:
                    head += chunk
                    if any(sign in head.decode("utf-8", "replace") for sign in _NO_TIMEOUT):
                        # No `timeout` in this image: run the command itself,
                        # bounded only by the reading below.
                        stream.close()
                        stream = self._start(list(self.argv))
                        if stream is None:
                            return
                        yield from self._read(stream)
                        break
                yield chunk
            info = self._finish()
            code = info.get("ExitCode")
            if isinstance(code, int) and not info.get("Running"):
                self.exit_code = code
                ran = time.monotonic() - began
                if code in (124, 137) and self.limited is None and ran >= self.seconds - 1:
                    self.limited = "time"
            if self.limited == "time":
                yield _limit_note(f"the command ran for {self.seconds} s, the lab's limit")
        finally:
            timer.cancel()
            self.close()

    def _timed_out(self) -> None:
        # The command outlived its limit and the wrapper (if any) did not end it.
        self.limited = self.limited or "time"
        self.close()


def exec_command(sandbox: Sandbox, container: str, command: str | list[str]) -> ExecStream:
    """Start `command` in the sandbox's running container; iterate the result for output."""
    argv = parse_command(command)
    found = find_container(sandbox, container)
    if found.get("State") != "running":
        name = container_view(sandbox, found)["name"]
        raise SandboxError(
            f"{name} is not running: docker exec runs commands in a running container. "
            f"Start it first (docker start {name}, or run it again).",
            code="conflict",
        )
    return ExecStream(sandbox, found["Id"], container_view(sandbox, found)["name"], argv)
