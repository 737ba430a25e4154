"""The registry relay's decisions, and the relay itself against small local servers.

No engine here: the "engine" is http.client and the learner's registry a
ThreadingHTTPServer on loopback, so every answer a hostile registry could
give can be staged exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import socket
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandboxes.services import relay
from sandboxes.services import relay_rules as rules
from sandboxes.services.relay_rules import Operation, Refused

SID = "0123456789"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
ENGINE_REPO = f"dl-relay-{SID}-1800000000/flask-app"
HOST = "127.0.0.1:41234"
PUSH = Operation("push", SID, "flask-app", "v1", "127.0.0.1:5000/flask-app:v1")


def pull_op(owned=(D1,), **kwargs) -> Operation:
    return Operation(
        "pull", SID, "flask-app", "v1", "127.0.0.1:5000/flask-app:v1", frozenset(owned), **kwargs
    )


def headers(*pairs: tuple[str, str]) -> Message:
    message = Message()
    for name, value in pairs:
        message[name] = value
    return message


def manifest_doc(config=D1, layers=(D2,), **extra) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 10,
            "digest": config,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 20,
                "digest": layer,
            }
            for layer in layers
        ],
        **extra,
    }


# -- routes ---------------------------------------------------------------------


def test_a_push_relays_the_upload_api_of_its_one_repository_under_the_learners_name():
    def upstream(method, target):
        return rules.route(PUSH, ENGINE_REPO, method, target).upstream

    assert upstream("GET", "/v2/") == "/v2/"
    assert upstream("HEAD", f"/v2/{ENGINE_REPO}/blobs/{D1}") == f"/v2/flask-app/blobs/{D1}"
    assert upstream("POST", f"/v2/{ENGINE_REPO}/blobs/uploads/") == "/v2/flask-app/blobs/uploads/"
    assert (
        upstream("PATCH", f"/v2/{ENGINE_REPO}/blobs/uploads/abc-1?_state=x%2By%3D")
        == "/v2/flask-app/blobs/uploads/abc-1?_state=x%2By%3D"
    )
    assert (
        upstream("PUT", f"/v2/{ENGINE_REPO}/blobs/uploads/abc-1?digest={D1}&other=1")
        == f"/v2/flask-app/blobs/uploads/abc-1?digest={D1.replace(':', '%3A')}"
    )
    assert upstream("PUT", f"/v2/{ENGINE_REPO}/manifests/v1") == "/v2/flask-app/manifests/v1"


def test_a_cross_repository_mount_becomes_a_plain_upload():
    found = rules.route(
        PUSH, ENGINE_REPO, "POST", f"/v2/{ENGINE_REPO}/blobs/uploads/?mount={D1}&from=other/repo"
    )
    assert found.upstream == "/v2/flask-app/blobs/uploads/"


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "/v2/_catalog"),
        ("GET", "/v2/flask-app/tags/list"),
        ("HEAD", f"/v2/other/blobs/{D1}"),  # another repository
        ("GET", f"/v2/{ENGINE_REPO}/blobs/{D1}"),  # a push reads no blob
        ("PUT", f"/v2/{ENGINE_REPO}/manifests/v2"),  # another tag
        ("PUT", f"/v2/{ENGINE_REPO}/manifests/{D1}"),
        ("DELETE", f"/v2/{ENGINE_REPO}/manifests/v1"),
        ("GET", f"/v2/{ENGINE_REPO}/blobs/sha256:short"),
        ("PATCH", f"/v2/{ENGINE_REPO}/blobs/uploads/a?digest=notadigest"),
        ("GET", "http://127.0.0.1:1/v2/"),
        ("GET", f"/v2/{ENGINE_REPO}/blobs/uploads/../../x"),
    ],
)
def test_a_push_relays_nothing_else(method, target):
    with pytest.raises(rules.NotRelayed):
        rules.route(PUSH, ENGINE_REPO, method, target)


def test_a_pull_reads_manifests_by_its_tag_or_a_digest_and_blobs_only():
    op = pull_op()
    assert (
        rules.route(op, ENGINE_REPO, "HEAD", f"/v2/{ENGINE_REPO}/manifests/v1").kind == "manifest"
    )
    by_digest = rules.route(op, ENGINE_REPO, "GET", f"/v2/{ENGINE_REPO}/manifests/{D1}")
    assert by_digest.digest == D1
    assert rules.route(op, ENGINE_REPO, "GET", f"/v2/{ENGINE_REPO}/blobs/{D2}").digest == D2
    for method, target in [
        ("POST", f"/v2/{ENGINE_REPO}/blobs/uploads/"),
        ("PUT", f"/v2/{ENGINE_REPO}/manifests/v1"),
        ("GET", f"/v2/{ENGINE_REPO}/manifests/latest"),
    ]:
        with pytest.raises(rules.NotRelayed):
            rules.route(op, ENGINE_REPO, method, target)


# -- headers --------------------------------------------------------------------


def test_only_the_request_headers_the_protocol_needs_go_upstream():
    sent = rules.upstream_headers(
        headers(
            ("Host", "evil.example"),
            ("Accept", "application/vnd.docker.distribution.manifest.v2+json"),
            ("Accept", "application/vnd.oci.image.manifest.v1+json"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", "0-1023"),
            ("Authorization", "Bearer stolen.token"),
            ("Cookie", "sessionid=x"),
            ("X-Forwarded-Host", "elsewhere"),
            ("User-Agent", "docker/20.10"),
        ),
        HOST,
    )
    assert sent == [
        ("Host", HOST),
        ("Accept", "application/vnd.docker.distribution.manifest.v2+json"),
        ("Accept", "application/vnd.oci.image.manifest.v1+json"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Range", "0-1023"),
    ]
    basic = rules.upstream_headers(headers(("Authorization", "Basic YTpi")), HOST)
    assert ("Authorization", "Basic YTpi") in basic


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_is_refused_with_where_it_pointed(status):
    with pytest.raises(Refused) as refused:
        rules.answer_headers(
            PUSH, status, headers(("Location", "http://127.0.0.1:8000/admin/")), HOST, ENGINE_REPO
        )
    assert refused.value.message.startswith(
        "Your registry answered with a redirect to 'http://127.0.0.1:8000/admin/': "
        "the lab does not follow redirects"
    )


def test_a_redirect_back_to_the_same_registry_is_refused_too():
    with pytest.raises(Refused, match="does not follow redirects"):
        rules.answer_headers(
            pull_op(), 307, headers(("Location", f"/v2/flask-app/blobs/{D2}")), HOST, ENGINE_REPO
        )


def test_a_bearer_challenge_is_refused_and_a_basic_one_passes_as_ours():
    bearer = headers(("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:8000/token",service="x"'))
    with pytest.raises(Refused) as refused:
        rules.answer_headers(PUSH, 401, bearer, HOST, ENGINE_REPO)
    assert "a token from 'http://127.0.0.1:8000/token'" in refused.value.message
    odd = headers(("WWW-Authenticate", 'Negotiate realm="http://x"'))
    with pytest.raises(Refused):
        rules.answer_headers(PUSH, 401, odd, HOST, ENGINE_REPO)
    basic = headers(("WWW-Authenticate", 'Basic realm="http://127.0.0.1:8000/", charset="x"'))
    assert rules.answer_headers(PUSH, 401, basic, HOST, ENGINE_REPO) == [
        ("WWW-Authenticate", 'Basic realm="registry"')
    ]


def test_an_upload_location_back_at_the_registry_becomes_a_path_on_the_relay():
    for location in (
        f"http://{HOST}/v2/flask-app/blobs/uploads/u-1?_state=abc%3D",
        "/v2/flask-app/blobs/uploads/u-1?_state=abc%3D",
    ):
        kept = rules.answer_headers(
            PUSH, 202, headers(("Location", location), ("Range", "0-0")), HOST, ENGINE_REPO
        )
        assert kept == [
            ("Location", f"/v2/{ENGINE_REPO}/blobs/uploads/u-1?_state=abc%3D"),
            ("Range", "0-0"),
        ]
    made = rules.answer_headers(
        PUSH,
        201,
        headers(("Location", f"http://{HOST}/v2/flask-app/blobs/{D1}")),
        HOST,
        ENGINE_REPO,
    )
    assert made == [("Location", f"/v2/{ENGINE_REPO}/blobs/{D1}")]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:8000/v2/flask-app/blobs/uploads/u-1",  # another port
        "http://169.254.169.254/v2/flask-app/blobs/uploads/u-1",
        f"ftp://{HOST}/v2/flask-app/blobs/uploads/u-1",
        "/v2/other/blobs/uploads/u-1",  # another repository
        "/admin/",
        "//127.0.0.1:8000/v2/flask-app/blobs/uploads/u-1",
        "/v2/flask-app/blobs/uploads/u-1?digest=nonsense",
    ],
)
def test_a_location_that_leaves_the_registry_is_refused(location):
    with pytest.raises(Refused, match="which is not the registry itself"):
        rules.answer_headers(PUSH, 202, headers(("Location", location)), HOST, ENGINE_REPO)


def test_answer_headers_are_kept_only_when_known_and_well_formed():
    kept = rules.answer_headers(
        PUSH,
        201,
        headers(
            ("Docker-Content-Digest", D1),
            ("Docker-Distribution-API-Version", "registry/2.0"),
            ("Docker-Upload-UUID", "u-1"),
            ("Set-Cookie", "sessionid=planted"),
            ("Content-Security-Policy", "none"),
            ("Link", "</v2/x>; rel=next"),
        ),
        HOST,
        ENGINE_REPO,
    )
    assert kept == [
        ("Docker-Distribution-API-Version", "registry/2.0"),
        ("Docker-Content-Digest", D1),
        ("Docker-Upload-UUID", "u-1"),
    ]
    odd = rules.answer_headers(
        PUSH, 200, headers(("Docker-Content-Digest", "md5:x"), ("Range", "lots")), HOST, ENGINE_REPO
    )
    assert odd == []


def test_error_bodies_are_remade_from_our_parse():
    made = json.loads(
        rules.error_body(
            404,
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no\\u0007pe","detail":{"x":1}},'
            b'{"code":"<script>","message":"m"}]}',
        )
    )
    assert made == {
        "errors": [
            {"code": "MANIFEST_UNKNOWN", "message": "nope"},
            {"code": "UNKNOWN", "message": "m"},
        ]
    }
    assert json.loads(rules.error_body(500, b"<html>oops</html>")) == {
        "errors": [{"code": "UNKNOWN", "message": "your registry answered 500"}]
    }


# -- manifests and configs ------------------------------------------------------


def test_an_owned_manifest_is_re_emitted_without_anything_we_did_not_read():
    doc = manifest_doc(annotations={"x": "y"})
    doc["layers"][0]["urls"] = ["http://127.0.0.1:8000/layer"]
    vetted = rules.vet_manifest(pull_op(), json.dumps(doc).encode(), "")
    body = json.loads(vetted.body())
    assert body == manifest_doc()
    assert vetted.digest() == "sha256:" + hashlib.sha256(vetted.body()).hexdigest()
    # The engine's own layout: an image it pushed comes back under the same digest.
    assert vetted.body().startswith(b'{\n   "schemaVersion": 2,\n   "mediaType": ')


def test_a_manifest_whose_config_the_sandbox_does_not_own_is_refused():
    with pytest.raises(Refused, match="was not built in your sandbox"):
        rules.vet_manifest(pull_op(owned=(D2,)), json.dumps(manifest_doc()).encode(), "")


def test_a_manifest_with_a_second_config_key_cannot_smuggle_another_image():
    # Python reads "config", a case-insensitive reader might read "Config":
    # what the engine gets is only what we read.
    text = json.dumps(manifest_doc())[:-1] + f', "Config": {{"digest": "{D2}"}}}}'
    vetted = rules.vet_manifest(pull_op(), text.encode(), "")
    assert json.loads(vetted.body())["config"]["digest"] == D1
    assert b"Config" not in vetted.body()


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"schemaVersion": 2, "manifests": []}, "a list of images for several platforms"),
        (
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"},
            "a list of images",
        ),
        ({"schemaVersion": 1, "fsLayers": []}, "which the lab does not pull"),
        (manifest_doc(layers=()) | {"layers": "x"}, "no usable layer list"),
        ([1, 2], "is not a manifest"),
    ],
)
def test_manifests_the_lab_does_not_pull_are_refused(doc, message):
    with pytest.raises(Refused, match=message):
        rules.vet_manifest(pull_op(), json.dumps(doc).encode(), "")


def test_foreign_layers_and_malformed_descriptors_are_refused():
    foreign = manifest_doc()
    foreign["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    with pytest.raises(Refused, match="which the lab does not pull"):
        rules.vet_manifest(pull_op(), json.dumps(foreign).encode(), "")
    for key, value in (("digest", "sha512:" + "1" * 128), ("size", -1), ("size", True)):
        bad = manifest_doc()
        bad["layers"][0][key] = value
        with pytest.raises(Refused):
            rules.vet_manifest(pull_op(), json.dumps(bad).encode(), "")


def config_bytes(labels=None, onbuild=None) -> bytes:
    config = {"Labels": {"org.dockerlab.sandbox": SID} if labels is None else labels}
    if onbuild:
        config["OnBuild"] = onbuild
    return json.dumps({"config": config, "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_config_must_hash_to_its_digest_carry_our_label_and_no_triggers():
    good = config_bytes()
    rules.vet_config(pull_op(), digest_of(good), good)
    with pytest.raises(Refused, match="does not match its digest"):
        rules.vet_config(pull_op(), D1, good)
    other = config_bytes(labels={"org.dockerlab.sandbox": "fedcba9876"})
    with pytest.raises(Refused, match="was not built in your sandbox"):
        rules.vet_config(pull_op(), digest_of(other), other)
    triggers = config_bytes(onbuild=["RUN echo hi"])
    with pytest.raises(Refused, match="has ONBUILD triggers"):
        rules.vet_config(pull_op(), digest_of(triggers), triggers)


# -- the relay, end to end without an engine ------------------------------------


class Upstream:
    """A stand-in for the learner's registry: `answer(handler)` decides each reply."""

    def __init__(self, answer):
        self.requests: list[tuple[str, str, dict]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                requests.append((self.command, self.path, dict(self.headers.items()), body))
                status, extra, data = answer(self)
                self.send_response(status)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = ("127.0.0.1", self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams():
    made = []

    def make(answer):
        made.append(Upstream(answer))
        return made[-1]

    yield make
    for upstream in made:
        upstream.close()


def ask(r: relay.Relay, method: str, path: str, body: bytes | None = None, headers=None):
    host, port = r.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_relay_answers_a_tls_hello_as_plain_http_so_the_engine_falls_back(upstreams):
    upstream = upstreams(lambda h: (200, [], b"{}"))
    with relay.Relay(PUSH, upstream.address, "127.0.0.1") as r:
        host, port = r.address.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
        assert upstream.requests == []


def test_the_relay_passes_a_push_and_rewrites_where_the_upload_goes(upstreams):
    def answer(h):
        if h.command == "POST":
            where = f"http://{h.headers['Host']}/v2/flask-app/blobs/uploads/u-1?_state=s"
            return 202, [("Location", where), ("Docker-Upload-UUID", "u-1")], b""
        if h.path == "/v2/":
            return 200, [("Docker-Distribution-API-Version", "registry/2.0")], b'{"x": 1}'
        return 201, [("Docker-Content-Digest", D1), ("Set-Cookie", "a=b")], b"ignored"

    upstream = upstreams(answer)
    with relay.Relay(PUSH, upstream.address, "127.0.0.1") as r:
        base = f"/v2/{r.engine_repository}"
        assert ask(r, "GET", "/v2/")[0] == 200
        status, got, body = ask(r, "POST", f"{base}/blobs/uploads/", b"")
        assert (status, got["Location"]) == (202, f"{base}/blobs/uploads/u-1?_state=s")
        status, got, body = ask(r, "PUT", f"{base}/blobs/uploads/u-1?_state=s&digest={D1}", b"data")
        assert (status, body, "Set-Cookie" in got) == (201, b"", False)
        assert r.refusal is None
    assert [(m, p) for m, p, _, _ in upstream.requests] == [
        ("GET", "/v2/"),
        ("POST", "/v2/flask-app/blobs/uploads/"),
        ("PUT", f"/v2/flask-app/blobs/uploads/u-1?_state=s&digest={D1.replace(':', '%3A')}"),
    ]
    assert upstream.requests[2][3] == b"data"
    assert upstream.requests[0][2]["Host"] == r.address


def test_after_a_refusal_every_request_is_denied_without_reaching_the_registry(upstreams):
    upstream = upstreams(lambda h: (307, [("Location", "http://127.0.0.1:8000/")], b""))
    with relay.Relay(PUSH, upstream.address, "127.0.0.1") as r:
        status, _, body = ask(r, "HEAD", f"/v2/{r.engine_repository}/blobs/{D1}")
        assert status == 403
        assert "a redirect to 'http://127.0.0.1:8000/'" in r.refusal
        status, _, body = ask(r, "GET", "/v2/")
        assert (status, json.loads(body)["errors"][0]["code"]) == (403, "DENIED")
    assert len(upstream.requests) == 1


def test_a_pull_serves_the_vetted_manifest_then_the_config_then_layers(upstreams):
    config = config_bytes()
    layer = b"layer bytes" * 100
    doc = manifest_doc(config=digest_of(config), layers=(digest_of(layer),))
    blobs = {digest_of(config): config, digest_of(layer): layer}

    def answer(h):
        if "/manifests/" in h.path:
            return 200, [("Content-Type", doc["mediaType"])], json.dumps(doc).encode()
        return 200, [], blobs.get(h.path.rsplit("/", 1)[1], b"")

    upstream = upstreams(answer)
    op = pull_op(owned=(digest_of(config),))
    with relay.Relay(op, upstream.address, "127.0.0.1") as r:
        base = f"/v2/{r.engine_repository}"
        status, got, _ = ask(r, "HEAD", f"{base}/manifests/v1")
        assert status == 200
        status, _, body = ask(r, "GET", f"{base}/manifests/{got['Docker-Content-Digest']}")
        assert json.loads(body) == doc
        # A layer asked for first waits for the config's verdict.
        waiting = {}
        layer_thread = threading.Thread(
            target=lambda: waiting.update(answer=ask(r, "GET", f"{base}/blobs/{digest_of(layer)}"))
        )
        layer_thread.start()
        time.sleep(0.3)
        assert "answer" not in waiting
        assert ask(r, "GET", f"{base}/blobs/{digest_of(config)}")[2] == config
        layer_thread.join(5)
        assert waiting["answer"][0] == 200 and waiting["answer"][2] == layer
        assert r.refusal is None
    # Manifests upstream are always read with GET, by the tag.
    assert [(m, p) for m, p, _, _ in upstream.requests][0] == ("GET", "/v2/flask-app/manifests/v1")


def test_a_refused_config_stops_the_layers_before_they_are_asked_for(upstreams):
    config = config_bytes(onbuild=["RUN echo hi"])
    layer = b"x" * 10
    doc = manifest_doc(config=digest_of(config), layers=(digest_of(layer),))

    def answer(h):
        if "/manifests/" in h.path:
            return 200, [], json.dumps(doc).encode()
        return 200, [], config if h.path.endswith(digest_of(config)) else layer

    upstream = upstreams(answer)
    with relay.Relay(pull_op(owned=(digest_of(config),)), upstream.address, "127.0.0.1") as r:
        base = f"/v2/{r.engine_repository}"
        ask(r, "GET", f"{base}/manifests/v1")
        assert ask(r, "GET", f"{base}/blobs/{digest_of(config)}")[0] == 403
        assert ask(r, "GET", f"{base}/blobs/{digest_of(layer)}")[0] == 403
        assert "ONBUILD" in r.refusal
    assert not [p for _, p, _, _ in upstream.requests if p.endswith(digest_of(layer))]


def test_a_pull_asking_for_blobs_the_manifest_does_not_name_is_refused(upstreams):
    upstream = upstreams(lambda h: (200, [], json.dumps(manifest_doc()).encode()))
    with relay.Relay(pull_op(), upstream.address, "127.0.0.1") as r:
        base = f"/v2/{r.engine_repository}"
        ask(r, "GET", f"{base}/manifests/v1")
        assert ask(r, "GET", f"{base}/blobs/sha256:{'3' * 64}")[0] == 403
    assert len(upstream.requests) == 1


def test_the_bytes_of_an_operation_are_capped(upstreams):
    config = config_bytes()
    layer = b"y" * 50_000
    doc = manifest_doc(config=digest_of(config), layers=(digest_of(layer),))

    def answer(h):
        if "/manifests/" in h.path:
            return 200, [], json.dumps(doc).encode()
        return 200, [], config if h.path.endswith(digest_of(config)) else layer

    upstream = upstreams(answer)
    op = pull_op(owned=(digest_of(config),), max_bytes=20_000)
    with relay.Relay(op, upstream.address, "127.0.0.1") as r:
        base = f"/v2/{r.engine_repository}"
        ask(r, "GET", f"{base}/manifests/v1")
        ask(r, "GET", f"{base}/blobs/{digest_of(config)}")
        with pytest.raises(http.client.IncompleteRead):
            ask(r, "GET", f"{base}/blobs/{digest_of(layer)}")
        assert "moved more than 0 MB" in r.refusal


def test_an_operation_past_its_deadline_is_stopped(upstreams):
    upstream = upstreams(lambda h: (200, [], b"{}"))
    r = relay.Relay(dataclasses.replace(PUSH, seconds=0.3), upstream.address, "127.0.0.1")
    with r:
        time.sleep(0.6)
        assert r.closed
        assert (
            r.refusal == "The push took longer than 0 seconds, the most the lab allows: it stopped."
        )
        with pytest.raises(OSError):
            ask(r, "GET", "/v2/")


def test_a_registry_that_does_not_speak_http_is_refused(upstreams):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def garbage():
        conn, _ = listener.accept()
        conn.recv(1000)
        conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        conn.close()

    threading.Thread(target=garbage, daemon=True).start()
    with relay.Relay(PUSH, listener.getsockname(), "127.0.0.1") as r:
        assert ask(r, "GET", "/v2/")[0] == 403
        assert "not a registry's HTTP answer" in r.refusal
    listener.close()


def test_the_relay_listens_only_on_one_ipv4_address():
    for bad in ("0.0.0.0", "::1"):
        with pytest.raises(ValueError):
            relay.Relay(PUSH, ("127.0.0.1", 1), bad)
