"""The sandbox lock orders threads and server processes (sandboxes/services/common.py)."""

import subprocess
import sys
import threading
import time

import pytest

from sandboxes.services.common import SandboxLock

SID = "0123456789"
TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""
HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_it_is_reentrant_in_one_thread_and_keeps_its_file(var_dir):
    lock = SandboxLock(SID)
    with lock:
        with lock:
            pass
        # Still held by the outer block: another process cannot take it.
        assert try_lock(var_dir) == 3
    assert try_lock(var_dir) == 0


def try_lock(var_dir) -> int:
    """Exit status of another process taking the lock file without waiting (3: held)."""
    path = var_dir / "sandbox-locks" / SID
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(path)], check=False).returncode


def test_another_thread_waits_for_it(var_dir):
    lock = SandboxLock(SID)
    entered = threading.Event()

    def other() -> None:
        with lock:
            entered.set()

    with lock:
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    thread.join()


def test_it_waits_while_another_process_holds_the_sandbox(var_dir):
    path = var_dir / "sandbox-locks" / SID
    path.parent.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        began = time.monotonic()
        with SandboxLock(SID):
            waited = time.monotonic() - began
        assert waited >= 0.5, f"took the lock after {waited:.2f} s while another process held it"
    finally:
        holder.wait(timeout=10)


def test_a_hostile_sandbox_id_is_refused_before_any_file_is_named(var_dir):
    from sandboxes.errors import SandboxError

    with pytest.raises(SandboxError):
        SandboxLock("../../etc/passwd")
    assert not (var_dir / "sandbox-locks").exists()
