"""The classroom kit: the lesson images, made available without Docker Hub.

For every configured lesson image (settings.DOCKERLAB_IMAGES) the kit keeps
what is there, else tries a pull, else builds a local equivalent from Debian
packages and tags it with the configured name. The local builds start from a
minimal Debian made with debootstrap and `docker import`ed as an internal base
image; ordinary Dockerfiles under kit/ add the rest.

The Debian mirror is read from apt's own configuration on this machine, so a
classroom that points apt at a local mirror gets a kit from that mirror too.

Besides the lesson images, the kit builds the project's own images for the
features that are switched on (LOCAL_IMAGES: the classroom swarm's node). Those
are never pulled, and their tag carries a digest of their folder under kit/, so
a changed recipe is a missing image that the next run builds.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from engine import client

KIT_LABEL = "org.dockerlab.kit"
DESCRIPTION_LABEL = "org.opencontainers.image.description"
KIT_ROOT = Path(__file__).resolve().parent.parent / "kit"
BASE_REPOSITORY = "dockerlab/debian"

# What each role's local build is, for the image label and the command output.
DESCRIPTIONS = {
    "python": (
        "dockerlab classroom kit: Debian python3 with Flask and PyMySQL from Debian packages"
    ),
    "mariadb": "dockerlab classroom kit: MariaDB server from Debian packages",
    "registry": "dockerlab classroom kit: the Distribution registry from Debian packages",
    "python-build": (
        "dockerlab classroom kit: the kit's python image with Debian's gcc, "
        "C library headers and python3-dev"
    ),
    "swarmnode": (
        "dockerlab classroom kit: a Docker engine from Debian packages, "
        "one node of the classroom swarm"
    ),
}

# The project's own images: role -> (repository, Debian suite). They run with
# capabilities lesson containers never get, so an image of the same name from
# a registry must never stand in for them: the kit only ever builds these.
LOCAL_IMAGES = {"swarmnode": ("dockerlab/swarmnode", "trixie")}

# Lesson images the kit builds on another lesson image rather than on the
# Debian base: role -> the role whose image is its base. The two then share
# every layer of the base, so their size difference is what the recipe adds
# (the multistage lesson measures the toolchain that way). Such a base must
# be a kit build; a rebuilt base means a rebuilt image on it.
BUILT_ON = {"python-build": "python"}

Say = Callable[[str], None]


class KitError(Exception):
    """The kit could not make an image available."""


class MirrorNotConfigured(KitError):
    """apt's configuration names no Debian mirror for the kit's suite."""


class MirrorUnreachable(KitError):
    """The Debian mirror does not answer."""


# --- apt sources -------------------------------------------------------------


@dataclass(frozen=True)
class AptSource:
    """One apt source: where packages come from, for which suites."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...] = ()
    types: tuple[str, ...] = ("deb",)
    enabled: bool = True


def parse_deb822(text: str) -> list[AptSource]:
    """Parse a deb822 `.sources` file (stanzas of `Field: value` lines)."""
    sources = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and last:
                # A continuation line extends the previous field.
                fields[last] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if not sep:
                continue
            last = name.strip().lower()
            fields[last] = value.strip()
        if "uris" not in fields:
            continue
        enabled = fields.get("enabled", "yes").lower() not in ("no", "false", "0")
        types = tuple(fields.get("types", "deb").split())
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        for uri in fields["uris"].split():
            sources.append(AptSource(uri, suites, components, types, enabled))
    return sources


def parse_sources_list(text: str) -> list[AptSource]:
    """Parse one-line-style `sources.list` entries (`deb [opts] uri suite comps`)."""
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = re.sub(r"\[[^\]]*\]", " ", line)
        parts = line.split()
        if len(parts) < 3 or parts[0] not in ("deb", "deb-src"):
            continue
        sources.append(AptSource(parts[1], (parts[2],), tuple(parts[3:]), (parts[0],)))
    return sources


def apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every source apt on this machine is configured with, in apt's order."""
    sources: list[AptSource] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        sources += parse_sources_list(main_list.read_text(errors="replace"))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                sources += parse_sources_list(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                sources += parse_deb822(path.read_text(errors="replace"))
    return sources


def suite_sources(sources: Iterable[AptSource], suite: str) -> list[AptSource]:
    """Binary sources for `suite` and its companions (-updates, -security)."""
    wanted = []
    for source in sources:
        if not source.enabled or "deb" not in source.types:
            continue
        suites = tuple(s for s in source.suites if s == suite or s.startswith(suite + "-"))
        if suites:
            wanted.append(AptSource(source.uri, suites, source.components, ("deb",)))
    return wanted


def debian_mirror(sources: Iterable[AptSource], suite: str) -> str:
    """The mirror URI that carries `suite` itself (what debootstrap needs).

    A machine whose apt names the suite by alias (`stable`) or runs another
    release still has a Debian archive mirror: one whose path ends in /debian.
    """
    sources = list(sources)
    for source in suite_sources(sources, suite):
        if suite in source.suites:
            return source.uri.rstrip("/")
    for source in sources:
        uri = source.uri.rstrip("/")
        if source.enabled and "deb" in source.types and uri.endswith("/debian"):
            return uri
    raise MirrorNotConfigured(
        f"apt on this machine has no source for Debian {suite!r} "
        "(looked in /etc/apt/sources.list and /etc/apt/sources.list.d/). "
        "Add one, or set DOCKERLAB_KIT_SUITE to a suite apt knows."
    )


def sources_list_for_image(sources: Iterable[AptSource], suite: str) -> str:
    """A sources.list for the kit's base image: this machine's sources for `suite`.

    Without any, the mirror debootstrap used serves the suite's main component.
    """
    sources = list(sources)
    lines = []
    for source in suite_sources(sources, suite):
        components = " ".join(source.components) or "main"
        for name in source.suites:
            lines.append(f"deb {source.uri.rstrip('/')} {name} {components}")
    if not lines:
        lines.append(f"deb {debian_mirror(sources, suite)} {suite} main")
    return "\n".join(lines) + "\n"


def check_mirror(mirror: str, suite: str, timeout: float = 10.0) -> None:
    """Raise MirrorUnreachable unless the mirror serves `suite`'s Release file."""
    url = f"{mirror.rstrip('/')}/dists/{suite}/Release"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
    raise MirrorUnreachable(
        f"The Debian mirror {mirror} (from apt's configuration) does not answer "
        f"for {suite}: {reason}. The kit needs it to build the lesson images; "
        "check the network or point apt at a reachable mirror."
    )


# --- planning ----------------------------------------------------------------

PRESENT, KIT_BUILT, MISSING = "present", "kit", "missing"


def image_state(name: str, timeout: float | None = None) -> str:
    """PRESENT (any image), KIT_BUILT (a kit build) or MISSING, for an image name."""
    try:
        with client.translate_errors():
            info = client.api(timeout=timeout).inspect_image(name)
    except client.NotFound:
        return MISSING
    labels = (info.get("Config") or {}).get("Labels") or {}
    return KIT_BUILT if labels.get(KIT_LABEL) else PRESENT


@dataclass
class Plan:
    """What `kit` will do: which roles are there and which need work."""

    images: dict[str, str]
    states: dict[str, str]
    to_make: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [role for role, state in self.states.items() if state == MISSING]


def make_plan(
    images: dict[str, str],
    states: dict[str, str],
    rebuild: bool = False,
    roles: Iterable[str] | None = None,
) -> Plan:
    """Decide which roles to pull-or-build.

    Missing images always; with `rebuild`, kit builds too (never an image
    someone pulled or built themselves). `roles` narrows the work to those.
    Roles without a kit recipe are an error.
    """
    unknown = sorted(set(images) - set(DESCRIPTIONS))
    if unknown:
        raise KitError(f"The kit has no recipe for image role(s): {', '.join(unknown)}")
    chosen = set(images if roles is None else roles)
    strangers = sorted(chosen - set(images))
    if strangers:
        raise KitError(
            f"Unknown image role(s): {', '.join(strangers)} "
            f"(the roles are: {', '.join(images)})"
        )
    to_make = [
        role
        for role in images
        if role in chosen
        and (states[role] == MISSING or (rebuild and states[role] == KIT_BUILT))
    ]
    for role, base in BUILT_ON.items():
        if role not in images or base not in images:
            continue
        # A kit build on a base that is remade goes stale with it; one to be
        # made needs its base first.
        if base in to_make and states[role] == KIT_BUILT and role not in to_make:
            to_make.append(role)
        if role in to_make and states[base] == MISSING and base not in to_make:
            to_make.insert(to_make.index(role), base)
    return Plan(dict(images), dict(states), to_make)


def lesson_base(role: str, images: dict[str, str]) -> str:
    """The lesson image a BUILT_ON role is built FROM; it must be a kit build.

    The kit makes roles in the configured order, the base's first, so by now
    the base is there unless it could not be made, or is an image the kit did
    not build (pulled, or someone's own), whose packages the recipe cannot
    rely on.
    """
    base_role = BUILT_ON[role]
    name = images[base_role]
    state = image_state(name)
    if state != KIT_BUILT:
        why = "is missing" if state == MISSING else "was not built by the kit"
        raise KitError(
            f"The kit builds {images[role]} on its own {base_role} image, and {name} "
            f"{why}. Provide {images[role]} some other way (a registry that serves it, "
            f"or an image of your own), or remove {name} so that the kit builds it."
        )
    return name


def context_digest(role: str) -> str:
    """A short digest of the kit folder of `role`: file names, modes and contents."""
    folder = KIT_ROOT / role
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        mode = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{path.relative_to(folder).as_posix()}\0{mode}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def local_image_name(role: str) -> str:
    """The tag of one of the project's own images, e.g. dockerlab/swarmnode:trixie-<digest>."""
    repository, suite = LOCAL_IMAGES[role]
    return f"{repository}:{suite}-{context_digest(role)}"


def kit_images() -> dict[str, str]:
    """Role -> image name for everything the kit keeps on this deployment.

    The lesson images, plus the swarm node image while orchestration runs a
    swarm of its own (none is needed when DOCKERLAB_SWARM_MANAGER_URL names
    an existing one).
    """
    images = dict(settings.DOCKERLAB_IMAGES)
    if settings.DOCKERLAB_SWARM and not settings.DOCKERLAB_SWARM_MANAGER_URL:
        images["swarmnode"] = local_image_name("swarmnode")
    return images


def current_plan(rebuild: bool = False, roles: Iterable[str] | None = None) -> Plan:
    """The plan for this deployment's configured images, as the engine has them."""
    images = kit_images()
    states = {role: image_state(name) for role, name in images.items()}
    return make_plan(images, states, rebuild, roles)


# --- making images -------------------------------------------------------------


class Progress:
    """Prints steps with the seconds elapsed since the kit started."""

    def __init__(self, say: Say):
        self.say = say
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s] {message}")


def try_pull(name: str, step: Progress) -> bool:
    """Pull `name`; False (and why) when the registry cannot be reached."""
    step(f"pulling {name}")
    try:
        with client.translate_errors():
            # The SDK splits "repository:tag" itself.
            for chunk in client.api().pull(name, stream=True, decode=True):
                if "error" in chunk:
                    raise client.PullFailed(chunk["error"])
    except client.EngineUnavailable:
        raise
    except client.EngineError as exc:
        step(f"  cannot pull {name}: {exc.message.splitlines()[0][:200]}")
        return False
    return True


def base_image_name(suite: str) -> str:
    return f"{BASE_REPOSITORY}:{suite}"


def ensure_base(
    step: Progress, apt_dir: Path = Path("/etc/apt"), suite: str | None = None
) -> str:
    """The internal Debian base image of `suite` (default: the kit's), made with
    debootstrap when missing."""
    suite = suite or settings.DOCKERLAB_KIT_SUITE
    name = base_image_name(suite)
    if image_state(name) != MISSING:
        step(f"base image {name}: present")
        return name
    tarball = rootfs_tarball(suite, step, apt_dir)
    step(f"importing {tarball.name} as {name}")
    changes = [
        f"LABEL {KIT_LABEL}=1",
        f'LABEL {DESCRIPTION_LABEL}="dockerlab classroom kit: minimal Debian {suite}"',
        "ENV LANG=C.UTF-8",
        'CMD ["bash"]',
    ]
    repository, tag = name.split(":")
    with client.translate_errors():
        client.api(timeout=600).import_image(
            src=str(tarball), repository=repository, tag=tag, changes=changes
        )
    if image_state(name) == MISSING:
        raise KitError(f"Importing {tarball} did not produce {name}.")
    return name


def rootfs_tarball(suite: str, step: Progress, apt_dir: Path = Path("/etc/apt")) -> Path:
    """A tarball of a minimal Debian root filesystem, cached in the kit dir."""
    kit_dir = Path(settings.DOCKERLAB_KIT_DIR)
    tarball = kit_dir / f"debian-{suite}.tar"
    if tarball.is_file():
        step(f"reusing cached root filesystem {tarball}")
        return tarball
    sources = apt_sources(apt_dir)
    mirror = debian_mirror(sources, suite)
    step(f"checking the Debian mirror {mirror}")
    check_mirror(mirror, suite)
    if shutil.which("debootstrap") is None:
        raise KitError(
            "debootstrap is not installed (run `make system`, or apt-get install debootstrap)."
        )
    kit_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(kit_dir)
    # Per-process names: two kit runs at once must not share a half-made tree.
    rootfs = kit_dir / f"rootfs-{suite}.{os.getpid()}.partial"
    partial = kit_dir / f"debian-{suite}.tar.{os.getpid()}.partial"
    try:
        step(f"debootstrap {suite} (minbase) from {mirror} - a few minutes on first run")
        _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror])
        _prepare_rootfs(rootfs, sources_list_for_image(sources, suite))
        step("packing the root filesystem")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.rename(tarball)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return tarball


def _remove_stale_partials(kit_dir: Path) -> None:
    """Remove half-made files left by kit runs that were killed."""
    for path in kit_dir.glob("*.partial"):
        pid = path.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prepare_rootfs(rootfs: Path, sources_list: str) -> None:
    """Make the fresh root filesystem behave like a container base image."""
    (rootfs / "etc/apt/sources.list").write_text(sources_list)
    # Package scripts must not try to start services inside image builds.
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    # Keep images small: no documentation, no recommends, no cached lists.
    (rootfs / "etc/dpkg/dpkg.cfg.d/dockerlab-nodoc").write_text(
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n"
        "path-exclude /usr/share/locale/*\n"
    )
    (rootfs / "etc/apt/apt.conf.d/90dockerlab").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise KitError(f"`{' '.join(argv[:2])}` failed (exit {proc.returncode}):\n{tail}")


def build_role(
    role: str,
    name: str,
    base: str,
    step: Progress,
    verbose: bool = False,
    description: str | None = None,
) -> None:
    """Build the kit's Dockerfile for `role` on `base` and tag it `name`."""
    context = KIT_ROOT / role
    step(f"building {name} from {context.relative_to(KIT_ROOT.parent)}")
    labels = {KIT_LABEL: "1", DESCRIPTION_LABEL: description or DESCRIPTIONS[role]}
    with client.translate_errors():
        stream = client.api(timeout=900).build(
            path=str(context),
            tag=name,
            buildargs={"BASE": base},
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise client.BuildFailed(f"Building {name} failed: {chunk['error'].strip()}")
            text = chunk.get("stream", "").rstrip()
            if text and (verbose or text.startswith("Step ")):
                step(f"  {text}")


def remove_superseded(role: str, keep: str, step: Progress) -> None:
    """Remove older kit builds of one of the project's own images.

    Only kit builds, and only those no container uses (the engine refuses
    those; they go once their containers are recreated on the new image).
    """
    repository = LOCAL_IMAGES[role][0]
    with client.translate_errors():
        api = client.api()
        images = api.images(name=repository, filters={"label": f"{KIT_LABEL}=1"})
    for image in images:
        tags = [tag for tag in image.get("RepoTags") or [] if tag != keep]
        if keep in (image.get("RepoTags") or []):
            continue
        for tag in tags:
            try:
                with client.translate_errors():
                    api.remove_image(tag)
                step(f"  removed the superseded {tag}")
            except (client.Conflict, client.NotFound):
                pass


def make_images(
    say: Say,
    *,
    pull: bool = True,
    rebuild: bool = False,
    roles: Iterable[str] | None = None,
    verbose: bool = False,
    apt_dir: Path = Path("/etc/apt"),
) -> Plan:
    """Make every configured lesson image available; returns the final plan."""
    step = Progress(say)
    plan = current_plan(rebuild, roles)
    for role, name in plan.images.items():
        if role not in plan.to_make:
            kind = "kit build" if plan.states[role] == KIT_BUILT else "present"
            step(f"{role}: {name} ({kind})")
    bases: dict[str, str] = {}
    for role in plan.to_make:
        name = plan.images[role]
        local = role in LOCAL_IMAGES
        if pull and not local and plan.states[role] == MISSING and try_pull(name, step):
            step(f"{role}: {name} pulled")
            continue
        if role in BUILT_ON:
            base = lesson_base(role, plan.images)
        else:
            suite = LOCAL_IMAGES[role][1] if local else settings.DOCKERLAB_KIT_SUITE
            if suite not in bases:
                bases[suite] = ensure_base(step, apt_dir, suite)
            base = bases[suite]
        build_role(role, name, base, step, verbose)
        step(f"{role}: {name} built")
        if local:
            remove_superseded(role, name, step)
    step("all lesson images are ready")
    return current_plan()


# --- the deployment's images -----------------------------------------------------
# docker-compose.yml runs PostgreSQL and Redis beside the site
# (settings.DOCKERLAB_DEPLOY_IMAGES). Like the lesson images: present, else
# pulled, else built here from Debian packages (kit/postgres, kit/redis),
# with the official images' variables, data paths and commands, so the
# compose file runs either. Only `manage.py kit --deploy` makes them: a
# site that is not deployed with compose needs neither.

DEPLOY_DESCRIPTIONS = {
    "postgres": "dockerlab classroom kit: PostgreSQL server from Debian packages",
    "redis": "dockerlab classroom kit: Redis server from Debian packages",
}


def deploy_plan(rebuild: bool = False) -> Plan:
    """The plan for the deployment's images, as the engine has them."""
    images = dict(settings.DOCKERLAB_DEPLOY_IMAGES)
    unknown = sorted(set(images) - set(DEPLOY_DESCRIPTIONS))
    if unknown:
        raise KitError(f"The kit has no recipe for deployment image(s): {', '.join(unknown)}")
    states = {role: image_state(name) for role, name in images.items()}
    to_make = [
        role
        for role, state in states.items()
        if state == MISSING or (rebuild and state == KIT_BUILT)
    ]
    return Plan(images, states, to_make)


def make_deploy_images(
    say: Say,
    *,
    pull: bool = True,
    rebuild: bool = False,
    verbose: bool = False,
    apt_dir: Path = Path("/etc/apt"),
) -> Plan:
    """Make the deployment's images available; returns the final plan."""
    step = Progress(say)
    plan = deploy_plan(rebuild)
    for role, name in plan.images.items():
        if role not in plan.to_make:
            kind = "kit build" if plan.states[role] == KIT_BUILT else "present"
            step(f"{role}: {name} ({kind})")
    base = None
    for role in plan.to_make:
        name = plan.images[role]
        if pull and plan.states[role] == MISSING and try_pull(name, step):
            step(f"{role}: {name} pulled")
            continue
        if base is None:
            base = ensure_base(step, apt_dir)
        build_role(role, name, base, step, verbose, description=DEPLOY_DESCRIPTIONS[role])
        step(f"{role}: {name} built")
    step("the deployment's images are ready")
    return deploy_plan()
