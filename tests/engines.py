"""Private Docker engines for tests that stop, restart or reconfigure one.

The host's engine is shared by the rest of the suite (and by everyone else
on the machine): no test stops it or changes its settings. A test that must
take an engine away, or needs one configured differently, starts a dockerd
of its own with PrivateEngine:

- everything of it lives under var/engines/<name>/: its unix socket, data
  root, exec root (with its own containerd), pid file, log and an empty
  daemon.json (the host's /etc/docker/daemon.json is not read);
- it has a bridge interface of its own for its default network, and an
  address pool of its own for the networks it makes, both chosen away from
  every address the host routes and reserved (a lock file each, held until
  remove()) against engines other test processes start at the same time;
- it adds no iptables rules and changes no sysctl, so the host engine's
  networking stays as it is;
- it runs with --live-restore: its containers keep running while it is
  stopped (stop(), or kill() for a crash) and it takes them up again when it
  starts, log files included.

remove() undoes all of it: containers, daemon, containerd, mounts, the
bridge, the files. Starting a dockerd needs root, as scripts/engine-up.sh
does. The docker CLI talks to it (`engine.docker("ps")`); point a server at
it with DOCKERLAB_ENGINE_URL=engine.url.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINES_DIR = ROOT / "var" / "engines"
# Where bridges and pools are taken from: 10.200.0.0 - 10.247.255.255.
SECOND_OCTETS = range(200, 248)


class EngineFailed(RuntimeError):
    """A private engine did not start, stop or load as asked."""


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes or has an address in."""
    out = subprocess.run(
        ["ip", "-4", "-o", "route", "show", "table", "all"],
        capture_output=True, text=True, check=True,
    ).stdout
    out += subprocess.run(
        ["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True
    ).stdout
    networks = []
    for word in out.split():
        with contextlib.suppress(ValueError):
            if "/" in word or word.count(".") == 3:
                networks.append(ipaddress.ip_network(word, strict=False))
    return networks


def _reserve(octet: int):
    """An open file holding 10.<octet>/16 for this process, or None if another holds it.

    Engines started at the same moment (test workers side by side) would
    otherwise pick the same range before either routes it.
    """
    lock = open(Path(tempfile.gettempdir()) / f"dockerlab-engine-net-10.{octet}.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def _free_ranges(count: int) -> tuple[list[ipaddress.IPv4Network], list]:
    """`count` /16 ranges under 10.200-10.247 the host uses nothing of, reserved.

    Also gives the open lock files that hold them (closing them frees them).
    """
    used = _host_networks()
    octets = list(SECOND_OCTETS)
    secrets.SystemRandom().shuffle(octets)
    free, locks = [], []
    for octet in octets:
        candidate = ipaddress.ip_network(f"10.{octet}.0.0/16")
        if any(candidate.overlaps(n) for n in used if n.prefixlen > 0):
            continue
        lock = _reserve(octet)
        if lock is None:
            continue
        free.append(candidate)
        locks.append(lock)
        if len(free) == count:
            return free, locks
    for lock in locks:
        lock.close()
    raise EngineFailed("no free 10.x.0.0/16 range for a private engine's networks")


class PrivateEngine:
    """A dockerd of a test's own (see the module's docstring)."""

    def __init__(self, name: str | None = None):
        self.name = name or f"t{secrets.token_hex(3)}"
        self.dir = ENGINES_DIR / self.name
        self.socket = self.dir / "docker.sock"
        self.url = f"unix://{self.socket}"
        # Interface names have at most 15 characters.
        self.bridge = f"dl{self.name}"[:15]
        self.proc: subprocess.Popen | None = None
        (self._bridge_net, self._pool), self._reserved = _free_ranges(2)

    # -- the daemon ---------------------------------------------------------------

    def _args(self) -> list[str]:
        return [
            "dockerd",
            "--config-file", str(self.dir / "daemon.json"),
            "--host", self.url,
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "docker.pid"),
            "--bridge", self.bridge,
            "--iptables=false",
            "--ip-forward=false",
            "--live-restore",
            "--default-address-pool", f"base={self._pool},size=24",
        ]

    def _make_bridge(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            return
        gateway = f"{next(self._bridge_net.hosts())}/24"
        for cmd in (
            ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", gateway, "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            subprocess.run(cmd, check=True, capture_output=True)

    def start(self, timeout: float = 60) -> None:
        """Start the daemon (again) and wait until it answers."""
        if os.geteuid() != 0:
            raise EngineFailed("a private engine needs root (dockerd), as scripts/engine-up.sh")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "daemon.json").write_text(json.dumps({}))
        self._make_bridge()
        self._clear_stale_pidfile()
        with open(self.dir / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                self._args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise EngineFailed(f"dockerd {self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def _clear_stale_pidfile(self) -> None:
        # A killed daemon leaves its pid file behind, and the next start
        # refuses it while a process of that pid lives (by now another one).
        pidfile = self.dir / "docker.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            ours = str(self.dir) in cmdline
        except (OSError, ValueError):
            ours = False
        if not ours:
            pidfile.unlink(missing_ok=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Stop the daemon only: its containers keep running (--live-restore)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop the daemon as a crash would (SIGKILL)."""
        self.stop(signal.SIGKILL)

    def answers(self) -> bool:
        answer = self.docker("version", "--format", "{{.Server.Version}}", check=False)
        return answer.returncode == 0

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "dockerd.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- using it --------------------------------------------------------------------

    def docker(
        self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        """The docker CLI against this engine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        result = subprocess.run(
            ["docker", "-H", self.url, *args],
            input=input, capture_output=True, env=env, timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            raise EngineFailed(f"docker {' '.join(args)}: {result.stderr.decode(errors='replace')}")
        return result

    def load_image(self, name: str) -> None:
        """Copy an image from the host's engine (docker save | docker load)."""
        with subprocess.Popen(["docker", "save", name], stdout=subprocess.PIPE) as save:
            loaded = subprocess.run(
                ["docker", "-H", self.url, "load", "-q"],
                stdin=save.stdout, capture_output=True, timeout=300, check=False,
            )
            save.stdout.close()
        if save.returncode != 0 or loaded.returncode != 0:
            raise EngineFailed(f"loading {name} failed: {loaded.stderr.decode(errors='replace')}")

    # -- removing it -------------------------------------------------------------------

    def remove(self) -> None:
        """Remove its containers, stop it, and leave nothing of it behind."""
        if self.dir.exists():
            if self.proc is None:
                # Stopped by the test: started once more, it removes its containers.
                with contextlib.suppress(EngineFailed):
                    self.start()
            if self.proc is not None and self.answers():
                ids = self.docker("ps", "-aq", check=False).stdout.decode().split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, check=False)
            self.stop()
            self._stop_leftovers()
            self._unmount()
            shutil.rmtree(self.dir, ignore_errors=True)
        self._remove_bridge()
        for lock in self._reserved:
            lock.close()
        self._reserved = []

    def _stop_leftovers(self) -> None:
        """Its containerd and shims, if the daemon left them (a kill, a failed start)."""
        mark = str(self.dir) + "/"
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if mark in cmdline:
                    os.kill(int(pid_dir.name), signal.SIGKILL)

    def _unmount(self) -> None:
        mark = str(self.dir)
        with open("/proc/mounts") as mounts:
            points = [line.split()[1] for line in mounts if line.split()[1].startswith(mark)]
        for point in sorted(points, key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)

    def _remove_bridge(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)


@contextlib.contextmanager
def private_engine(*images: str, name: str | None = None):
    """A started PrivateEngine holding copies of `images`; removed afterwards."""
    engine = PrivateEngine(name)
    try:
        engine.start()
        for image in images:
            engine.load_image(image)
        yield engine
    finally:
        engine.remove()
