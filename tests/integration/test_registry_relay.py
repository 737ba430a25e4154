"""A learner's registry that lies, on the real engine: the relay refuses it.

The learner runs their own "registry" (a few lines of Python in the lesson's
python image, started through the sandbox services and published on
127.0.0.1 like any lab container) that answers the engine with redirects,
token realms, upload locations elsewhere, or hand-made images. Each attempt
must end with a clear message, no request reaching any other place, nothing
left on the engine and no other sandbox's listing changed.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import secrets
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine import client
from sandboxes import services
from sandboxes.models import SandboxImage
from sandboxes.services import registry
from sandboxes.services import relay_rules as rules
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REF = "127.0.0.1:5000/flask-app:v1"

# The learner's fake registry. MODE: redirect (every API request but /v2/ is
# sent to TARGET), bearer (a token realm at TARGET), location (an upload is
# continued at TARGET), image (serves MANIFEST, CONFIG and LAYER, base64).
FAKE_REGISTRY = r"""
import base64, hashlib, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
MODE, TARGET = os.environ["MODE"], os.environ.get("TARGET", "")
BLOBS = {}
for name in ("CONFIG", "LAYER"):
    data = base64.b64decode(os.environ.get(name, ""))
    BLOBS["sha256:" + hashlib.sha256(data).hexdigest()] = data
API = [("Docker-Distribution-API-Version", "registry/2.0")]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def any(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        last = self.path.split("?")[0].rstrip("/").split("/")[-1]
        if self.path == "/v2/":
            if MODE == "bearer":
                realm = 'Bearer realm="%s/token",service="lab"' % TARGET
                return self.answer(401, API + [("WWW-Authenticate", realm)])
            return self.answer(200, API, b"{}")
        if MODE == "redirect":
            return self.answer(307, API + [("Location", TARGET + self.path)])
        if MODE == "location" and self.command == "POST":
            where = [("Location", TARGET + "/v2/flask-app/blobs/uploads/x"), ("Range", "0-0")]
            return self.answer(202, API + where)
        if MODE == "image" and "/manifests/" in self.path:
            kind = "application/vnd.docker.distribution.manifest.v2+json"
            return self.answer(200, API + [("Content-Type", kind)], os.environ["MANIFEST"].encode())
        if MODE == "image" and last in BLOBS:
            return self.answer(200, API, BLOBS[last])
        return self.answer(404, API, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = any
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 5000), H).serve_forever()
"""


class CountingServer:
    """An HTTP server on the host's loopback that counts every request it gets."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def _count(self):
                hits.append((self.command, self.path))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _count

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "relay") as (_, sandboxes):
        alice, bob = sandboxes
        with django_db_blocker.unblock():
            assert list(services.build_image(alice, "flask-app"))[-1]["kind"] == "done"
        registry.tag_image(alice, "flask-app", REF)
        yield sandboxes


@pytest.fixture
def host_server():
    server = CountingServer()
    yield server
    server.close()


def _answering(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            return
        except OSError:
            assert time.monotonic() < deadline, "the registry never answered"
            time.sleep(0.3)
        finally:
            conn.close()


def _run_registry(sandbox, image: str = "registry:2", **env) -> int:
    with contextlib.suppress(services.NotInSandbox):
        services.remove_container(sandbox, "registry")
    if image == "registry:2":
        services.run_container(sandbox, image, name="registry", port=5000)
    else:
        services.run_container(
            sandbox,
            image,
            name="registry",
            port=5000,
            env={**env, "FAKE": FAKE_REGISTRY},
            command="python -c \"import os; exec(os.environ['FAKE'])\"",
        )
    port = services.published_port(sandbox, "registry", 5000)
    _answering(port)
    return port


def _fake(sandbox, mode: str, target: str = "", **env) -> int:
    return _run_registry(sandbox, "python:3.12-slim", MODE=mode, TARGET=target, **env)


def _listing(sandbox) -> list[tuple[str, str]]:
    return sorted((i["name"], i["id"]) for i in services.list_state(sandbox)["images"])


def _relay_names(sandbox) -> list[str]:
    with client.translate_errors():
        images = client.api().images(all=True)
    return [
        name
        for image in images
        for name in (image.get("RepoTags") or []) + (image.get("RepoDigests") or [])
        if f"dl-relay-{sandbox.sid}" in name
    ]


def _refused(sandbox, kind: str, ref: str = REF):
    stream = (registry.push if kind == "push" else registry.pull)(sandbox, ref)
    events = list(stream)
    assert events[-1]["kind"] == "error", events[-3:]
    return events[-1]["message"], stream.relay


def _registry_log_requests(sandbox) -> int:
    found = services.find_container(sandbox, "registry")
    with client.translate_errors():
        text = client.api().logs(found["Id"]).decode("utf-8", "replace")
    return text.count("/v2/")


@pytest.mark.parametrize("kind", ["push", "pull"])
def test_a_redirect_to_the_hosts_loopback_is_refused_and_never_followed(
    learners, host_server, kind
):
    alice, bob = learners
    before = _listing(alice), _listing(bob)
    _fake(alice, "redirect", host_server.url)

    message, relay = _refused(alice, kind)

    assert message.startswith(f"Your registry answered with a redirect to '{host_server.url}/v2/")
    assert "the lab does not follow redirects" in message
    assert host_server.hits == []
    assert relay.closed and relay.requests >= 2
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


@pytest.mark.parametrize("kind", ["push", "pull"])
def test_a_redirect_to_another_learners_registry_is_refused_and_reaches_nothing(learners, kind):
    alice, bob = learners
    bobs_port = _run_registry(bob)
    seen_by_bob = _registry_log_requests(bob)
    before = _listing(alice), _listing(bob)
    _fake(alice, "redirect", f"http://127.0.0.1:{bobs_port}")

    message, _ = _refused(alice, kind)

    assert f"a redirect to 'http://127.0.0.1:{bobs_port}/v2/" in message
    time.sleep(1)  # the registry logs a request as it ends
    assert _registry_log_requests(bob) == seen_by_bob
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before
    services.remove_container(bob, "registry")


@pytest.mark.parametrize("kind", ["push", "pull"])
def test_a_token_realm_on_the_hosts_loopback_is_refused_and_never_asked(
    learners, host_server, kind
):
    alice, bob = learners
    before = _listing(alice), _listing(bob)
    _fake(alice, "bearer", host_server.url)

    message, _ = _refused(alice, kind)

    assert message.startswith(f"Your registry asked for a token from '{host_server.url}/token'")
    assert host_server.hits == []
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


def test_an_upload_continued_at_another_place_is_refused(learners, host_server):
    alice, bob = learners
    before = _listing(alice), _listing(bob)
    _fake(alice, "location", host_server.url)

    message, _ = _refused(alice, "push")

    assert message.startswith(f"Your registry sent the next step to '{host_server.url}/v2/")
    assert host_server.hits == []
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


def _hand_made_image(labels: dict[str, str], onbuild: list[str]) -> dict[str, bytes]:
    """A one-layer image made here: its layer, config and manifest bytes."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        data = secrets.token_hex(16).encode()  # a layer no other image has
        info = tarfile.TarInfo("planted.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer_tar = tar_bytes.getvalue()
    layer = gzip.compress(layer_tar)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"], "Labels": labels, "OnBuild": onbuild},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "made by a test"}],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                }
            ],
        }
    ).encode()
    return {"layer": layer, "config": config, "manifest": manifest, "diff_id": diff_id.encode()}


def _serve_image(sandbox, image: dict[str, bytes]) -> None:
    _fake(
        sandbox,
        "image",
        MANIFEST=image["manifest"].decode(),
        CONFIG=base64.b64encode(image["config"]).decode(),
        LAYER=base64.b64encode(image["layer"]).decode(),
    )


def _nothing_of(image: dict[str, bytes]) -> None:
    """No image with that config and no layer with that content on the engine."""
    config_id = "sha256:" + hashlib.sha256(image["config"]).hexdigest()
    api = client.api()
    with pytest.raises(client.NotFound), client.translate_errors():
        api.inspect_image(config_id)
    with client.translate_errors():
        info = api.info()
    # The first layer's chain id is its diff id; the engine keeps one folder per layer.
    layerdb = Path(info["DockerRootDir"]) / "image" / info["Driver"] / "layerdb" / "sha256"
    assert layerdb.is_dir(), "these tests look at a local engine's layer store"
    assert not (layerdb / image["diff_id"].decode().split(":")[1]).exists()


def test_a_hand_made_image_with_another_sandboxs_labels_is_refused_before_any_layer(learners):
    alice, bob = learners
    forged = {
        "org.dockerlab.sandbox": bob.sid,
        "org.dockerlab.owner": str(bob.user_id),
        "org.dockerlab.deployment": "another-site",
        "org.dockerlab.expires": "2099-01-01T00:00:00Z",
    }
    image = _hand_made_image(forged, ["RUN echo planted"])
    before = _listing(alice), _listing(bob)
    _serve_image(alice, image)

    message, relay = _refused(alice, "pull", "127.0.0.1:5000/planted:x")

    assert message == (
        "127.0.0.1:5000/planted:x was not built in your sandbox: the lab pulls back "
        "only images you built and pushed yourself."
    )
    assert not [path for method, path, _ in relay.seen if "/blobs/" in path]
    _nothing_of(image)
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


def test_an_owned_image_with_onbuild_triggers_is_refused_before_any_layer(learners):
    alice, bob = learners
    labels = {"org.dockerlab.sandbox": alice.sid}
    image = _hand_made_image(labels, ["RUN echo surprise"])
    # As if this sandbox had built it: the id is on the app's record.
    config_id = "sha256:" + hashlib.sha256(image["config"]).hexdigest()
    SandboxImage.objects.create(sandbox=alice, image_id=config_id, how=SandboxImage.BUILT)
    before = _listing(alice), _listing(bob)
    _serve_image(alice, image)

    message, relay = _refused(alice, "pull", "127.0.0.1:5000/planted:x")

    assert message == (
        "127.0.0.1:5000/planted:x has ONBUILD triggers: the lab does not pull images "
        "with triggers, which would run in a later build."
    )
    layer_digest = json.loads(image["manifest"])["layers"][0]["digest"]
    assert not [p for m, p, status in relay.seen if p.endswith(layer_digest) and status == 200]
    _nothing_of(image)
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


def test_an_owned_image_without_triggers_comes_back_through_the_relay(learners):
    alice, bob = learners
    image = _hand_made_image({"org.dockerlab.sandbox": alice.sid}, [])
    config_id = "sha256:" + hashlib.sha256(image["config"]).hexdigest()
    SandboxImage.objects.create(sandbox=alice, image_id=config_id, how=SandboxImage.PUSHED)
    bobs = _listing(bob)
    _serve_image(alice, image)

    stream = registry.pull(alice, "127.0.0.1:5000/planted:ok")
    events = list(stream)

    assert events[-1] == {"kind": "done", "image": "127.0.0.1:5000/planted:ok", "id": config_id}
    assert ("127.0.0.1:5000/planted:ok", config_id) in _listing(alice)
    assert _listing(bob) == bobs
    assert _relay_names(alice) == []
    # The layer went through the relay after the config, and nothing else did.
    blobs = [path.rsplit("/", 1)[1] for method, path, _ in stream.relay.seen if "/blobs/" in path]
    assert blobs[0] == config_id
    services.remove_image(alice, "127.0.0.1:5000/planted:ok")


def test_an_image_built_with_onbuild_triggers_is_not_pulled_back(learners):
    alice, bob = learners
    dockerfile = "FROM python:3.12-slim\nONBUILD RUN echo later\n"
    assert list(services.build_image(alice, "triggers", dockerfile))[-1]["kind"] == "done"
    ref = "127.0.0.1:5000/triggers:v1"
    registry.tag_image(alice, "triggers", ref)
    _run_registry(alice)
    assert list(registry.push(alice, ref))[-1]["kind"] == "done"
    services.remove_image(alice, ref)
    before = _listing(alice), _listing(bob)

    message, _ = _refused(alice, "pull", ref)

    assert message.startswith(f"{ref} has ONBUILD triggers")
    assert _relay_names(alice) == []
    assert (_listing(alice), _listing(bob)) == before


def test_registries_named_any_other_way_stay_refused(learners):
    alice, bob = learners
    alices_port = _run_registry(alice)
    bobs_port = _run_registry(bob)
    for ref in (
        f"127.0.0.1:{bobs_port}/flask-app:v1",  # another learner's registry
        f"127.0.0.1:{alices_port}/flask-app:v1",  # the host port of one's own
        f"localhost:{alices_port}/flask-app:v1",
    ):
        with pytest.raises(services.NotInSandbox, match="start your registry first"):
            registry.pull(alice, ref)
    for ref in ("[::1]:5000/flask-app:v1", "172.17.0.1:5000/flask-app:v1"):
        with pytest.raises(services.InvalidName):
            registry.pull(alice, ref)
    services.remove_container(bob, "registry")


def test_relay_names_a_crash_left_behind_are_never_the_learners_and_go_once_stale(learners):
    alice, bob = learners
    image, _ = services.find_image(alice, "flask-app")
    now = int(time.time())
    stale = f"127.0.0.1:1/{rules.relay_repository(alice.sid, now - 10, 'flask-app')}"
    live = f"127.0.0.1:2/{rules.relay_repository(alice.sid, now + 600, 'flask-app')}"
    api = client.api()
    with client.translate_errors():
        api.tag(image["Id"], stale, "v1")
        api.tag(image["Id"], live, "v1")
    try:
        assert not [name for name, _ in _listing(alice) if "relay" in name or ":1/" in name]
        found = registry.stale_names()
        assert f"{stale}:v1" in found and f"{live}:v1" not in found
        assert registry.remove_stale_names() >= 1
        assert _relay_names(alice) == [f"{live}:v1"]
        # Only the name went: the learner's image is still theirs.
        assert services.find_image(alice, "flask-app")[0]["Id"] == image["Id"]
    finally:
        with contextlib.suppress(client.EngineError), client.translate_errors():
            api.remove_image(f"{live}:v1", noprune=True)
