"""The kit reads the Debian mirror from apt's own configuration, in both formats."""

import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from engine import kit

DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example.test/debian-security
Suites: bookworm-security
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example.test/debian
Suites: bookworm
Components: main
"""

ONE_LINE = """\
# the main archive
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://old.example.test/debian/ bookworm main
deb-src http://old.example.test/debian bookworm main
deb http://old.example.test/debian-security bookworm-security main  # updates

deb https://apps.example.test/apt stable main
"""


def _unused_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_reads_deb822_stanzas_and_skips_comments():
    sources = kit.parse_deb822(DEB822)
    assert [s.uri for s in sources] == [
        "http://mirror.example.test/debian",
        "http://mirror.example.test/debian-security",
        "http://disabled.example.test/debian",
    ]
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert sources[0].components == ("main", "contrib")
    assert sources[1].types == ("deb", "deb-src")
    assert sources[2].enabled is False


def test_it_reads_one_line_entries_with_options_and_trailing_comments():
    sources = kit.parse_sources_list(ONE_LINE)
    assert [(s.types[0], s.uri, s.suites) for s in sources] == [
        ("deb", "http://old.example.test/debian/", ("bookworm",)),
        ("deb-src", "http://old.example.test/debian", ("bookworm",)),
        ("deb", "http://old.example.test/debian-security", ("bookworm-security",)),
        ("deb", "https://apps.example.test/apt", ("stable",)),
    ]
    assert sources[2].components == ("main",)


def test_it_picks_the_mirror_that_carries_the_suite_itself():
    sources = kit.parse_deb822(DEB822)
    assert kit.debian_mirror(sources, "bookworm") == "http://mirror.example.test/debian"
    assert kit.debian_mirror(kit.parse_sources_list(ONE_LINE), "bookworm") == (
        "http://old.example.test/debian"
    )


def test_it_ignores_disabled_and_source_only_entries():
    text = "deb-src http://src.example.test/debian bookworm main\n"
    with pytest.raises(kit.MirrorNotConfigured, match="no source for Debian 'bookworm'"):
        kit.debian_mirror(kit.parse_sources_list(text), "bookworm")
    disabled = [s for s in kit.parse_deb822(DEB822) if not s.enabled]
    with pytest.raises(kit.MirrorNotConfigured):
        kit.debian_mirror(disabled, "bookworm")


def test_a_machine_that_names_the_suite_by_alias_still_yields_its_debian_mirror():
    text = (
        "deb http://apps.example.test/apt stable main\n"
        "deb http://mirror.example.test/debian/ stable main\n"
    )
    sources = kit.parse_sources_list(text)
    assert kit.debian_mirror(sources, "bookworm") == "http://mirror.example.test/debian"
    assert kit.sources_list_for_image(sources, "bookworm") == (
        "deb http://mirror.example.test/debian bookworm main\n"
    )


def test_it_reads_both_files_of_an_apt_directory(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(ONE_LINE)
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "ignored.list.disabled").write_text(ONE_LINE)
    uris = [s.uri for s in kit.apt_sources(tmp_path)]
    assert uris.count("https://apps.example.test/apt") == 1
    assert "http://mirror.example.test/debian" in uris
    # apt's order: sources.list first.
    assert kit.debian_mirror(kit.apt_sources(tmp_path), "bookworm") == (
        "http://old.example.test/debian"
    )


def test_the_base_image_gets_this_machines_sources_for_the_suite_only():
    sources = kit.parse_deb822(DEB822) + kit.parse_sources_list(ONE_LINE)
    text = kit.sources_list_for_image(sources, "bookworm")
    assert text.splitlines() == [
        "deb http://mirror.example.test/debian bookworm main contrib",
        "deb http://mirror.example.test/debian bookworm-updates main contrib",
        "deb http://mirror.example.test/debian-security bookworm-security main",
        "deb http://old.example.test/debian bookworm main",
        "deb http://old.example.test/debian-security bookworm-security main",
    ]


def test_an_unreachable_mirror_is_a_clear_error():
    mirror = f"http://127.0.0.1:{_unused_loopback_port()}/debian"
    with pytest.raises(kit.MirrorUnreachable) as info:
        kit.check_mirror(mirror, "bookworm", timeout=2)
    assert mirror in str(info.value)
    assert "does not answer" in str(info.value)


def test_a_mirror_that_serves_the_release_file_passes_the_check():
    class Release(BaseHTTPRequestHandler):
        def do_HEAD(self):
            ok = self.path == "/debian/dists/bookworm/Release"
            self.send_response(200 if ok else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Release)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        mirror = f"http://127.0.0.1:{server.server_port}/debian"
        kit.check_mirror(mirror, "bookworm", timeout=2)
        with pytest.raises(kit.MirrorUnreachable, match="HTTP 404"):
            kit.check_mirror(mirror, "trixie", timeout=2)
    finally:
        server.shutdown()
        server.server_close()


def test_making_the_root_filesystem_stops_early_and_leaves_nothing_when_the_mirror_is_down(
    tmp_path, settings
):
    apt_dir = tmp_path / "apt"
    apt_dir.mkdir()
    port = _unused_loopback_port()
    (apt_dir / "sources.list").write_text(f"deb http://127.0.0.1:{port}/debian bookworm main\n")
    settings.DOCKERLAB_KIT_DIR = tmp_path / "kit"
    lines = []
    with pytest.raises(kit.MirrorUnreachable, match=f"127.0.0.1:{port}"):
        kit.rootfs_tarball("bookworm", kit.Progress(lines.append), apt_dir)
    assert not (tmp_path / "kit").exists() or not any((tmp_path / "kit").iterdir())
    assert any("checking the Debian mirror" in line for line in lines)


def test_a_failed_debootstrap_leaves_no_partial_root_filesystem(tmp_path, settings):
    class ReleaseOnly(BaseHTTPRequestHandler):
        """Answers the reachability check, then serves nothing debootstrap can use."""

        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), ReleaseOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    apt_dir = tmp_path / "apt"
    apt_dir.mkdir()
    (apt_dir / "sources.list").write_text(
        f"deb http://127.0.0.1:{server.server_port}/debian bookworm main\n"
    )
    settings.DOCKERLAB_KIT_DIR = tmp_path / "kit"
    try:
        with pytest.raises(kit.KitError) as info:
            kit.rootfs_tarball("bookworm", kit.Progress(lambda line: None), apt_dir)
    finally:
        server.shutdown()
        server.server_close()
    assert "debootstrap" in str(info.value)
    kit_dir = tmp_path / "kit"
    assert not kit_dir.exists() or list(kit_dir.iterdir()) == []


def test_half_made_files_of_a_killed_kit_run_are_removed(tmp_path, settings):
    dead = subprocess.Popen(["true"])
    dead.wait()
    kit_dir = tmp_path / "kit"
    (kit_dir / f"rootfs-bookworm.{dead.pid}.partial" / "etc").mkdir(parents=True)
    (kit_dir / f"debian-bookworm.tar.{dead.pid}.partial").write_text("half")
    (kit_dir / "debian-bookworm.tar").write_text("a finished tarball stays")
    kit._remove_stale_partials(kit_dir)
    assert sorted(p.name for p in kit_dir.iterdir()) == ["debian-bookworm.tar"]
