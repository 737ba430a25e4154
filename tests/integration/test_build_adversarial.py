"""Hostile Dockerfiles against the real engine, through the lab's build service.

alice attacks; bob has an image she must never read. Each Dockerfile is
either refused before the engine is asked (a BadRequest naming the line), or
built with exactly the instructions we validated: the image's history is our
emitted Dockerfile step by step, its labels are ours, and no image but the
lesson image and alice's own is in its ancestry. A loopback HTTP server
counts every connection, and must count none.
"""

from __future__ import annotations

import pytest

from engine import client
from sandboxes import naming, services
from sandboxes.services import builds
from sandboxes.services import dockerfile as df
from tests.integration.learners import two_learners
from tests.integration.trap import Trap

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BASE = "FROM python:3.12-slim\n"


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "adversary") as (_, sandboxes):
        yield sandboxes


@pytest.fixture(scope="module")
def alice(learners):
    return learners[0]


@pytest.fixture(scope="module")
def bob(learners):
    return learners[1]


def _done(sandbox, tag: str, dockerfile: str) -> list[dict]:
    events = list(services.build_image(sandbox, tag, dockerfile))
    assert events[-1]["kind"] == "done", events[-5:]
    return events


@pytest.fixture(scope="module")
def bob_secret(bob) -> str:
    """The id of an image only bob may read."""
    return _done(bob, "secret", BASE + "RUN echo bob-secret > /secret\n")[-1]["id"]


@pytest.fixture(scope="module")
def alice_own(alice) -> str:
    return _done(alice, "mine", BASE + "RUN echo alice-own > /mine\n")[-1]["id"]


@pytest.fixture(scope="module")
def trap():
    with Trap() as trap:
        yield trap


def _image_id(ref: str) -> str:
    with client.translate_errors():
        return client.api().inspect_image(ref)["Id"]


def _ancestry(image_id: str) -> list[str]:
    with client.translate_errors():
        return [
            entry["Id"]
            for entry in client.api().history(image_id)
            if entry["Id"] != "<missing>"
        ]


def _expected_history(text: str) -> list[str]:
    """What `docker history` says for each image-making step of a Dockerfile we emit."""
    expected = []
    for ins in df.parse(text).instructions:
        if ins.keyword == "FROM":
            expected = []  # the last stage is the image
        elif ins.keyword == "RUN" and ins.form == "shell":
            expected.append(f"/bin/sh -c {ins.args[0]}")
        elif ins.keyword == "LABEL":
            pairs = " ".join(
                f"{df.literal_word(k)}={df.literal_word(v)}" for k, v in ins.pairs()
            )
            expected.append(f"/bin/sh -c #(nop)  LABEL {pairs}")
        elif ins.keyword in ("CMD", "ENV", "ONBUILD"):
            expected.append(f"/bin/sh -c #(nop)  {df.emit_line(ins)}")
        elif ins.keyword == "COPY":
            expected.append("/bin/sh -c #(nop) COPY ")
    return expected


def _check_built(sandbox, tag: str, dockerfile: str, foreign: list[str]) -> list[str]:
    """The image is what we emitted, labelled as ours, and reads nothing foreign."""
    prepared = builds.prepare(sandbox, dockerfile)
    ref = naming.engine_image(sandbox.sid, tag)
    with client.translate_errors():
        api = client.api()
        image = api.inspect_image(ref)
        history = api.history(ref)
    assert image["Config"]["Labels"] | sandbox.labels() == image["Config"]["Labels"]
    expected = _expected_history(prepared.text)
    created = [entry["CreatedBy"] for entry in history][: len(expected)]
    for made, wanted in zip(reversed(created), expected, strict=True):
        assert made.startswith(wanted) if wanted.endswith("COPY ") else made == wanted
    ancestry = _ancestry(image["Id"])
    assert not set(foreign) & set(ancestry)
    return ancestry


REFUSED = {
    "add-url": ("ADD http://127.0.0.1:{port}/lessons/ /c", 2, "network"),
    "add-url-json": ('ADD ["http://127.0.0.1:{port}/lessons/", "/c"]', 2, "network"),
    "add-url-upper": ("ADD HTTP://127.0.0.1:{port}/ /c", 2, "network"),
    "add-url-quoted": ('ADD "http://127.0.0.1:{port}/" /c', 2, "plainly"),
    "add-url-escaped": ("ADD h\\ttp://127.0.0.1:{port}/ /c", 2, "plainly"),
    "add-url-variable": ("ARG U=http://127.0.0.1:{port}/\nADD $U /c", 3, "plainly"),
    "add-url-braces": ("ENV U=http://127.0.0.1:{port}/\nADD ${{U}} /c", 3, "plainly"),
    "add-url-bom": ("ADD \ufeffhttp://127.0.0.1:{port}/ /c", 2, "plainly"),
    "add-url-onbuild": ("ONBUILD ADD http://127.0.0.1:{port}/ /c", 2, "network"),
    "add-url-continued": ("ADD \\\n  http://127.0.0.1:{port}/ /c", 2, "network"),
    "add-git-scp": ("ADD git@github.com:moby/moby.git /src", 2, "git"),
    "add-git-https": ("ADD https://github.com/moby/moby.git#master /src", 2, "git"),
    "add-git-scheme": ("ADD git://127.0.0.1:{port}/repo.git /src", 2, "git"),
    "heredoc": ("RUN <<EOF\nwget http://127.0.0.1:{port}/\nEOF", 2, "heredoc"),
    "run-mount": (
        "RUN --mount=type=bind,source=/,target=/host cat /host/etc/shadow",
        2,
        "--mount",
    ),
    "platform": (
        "FROM --platform=linux/arm64 python:3.12-slim AS other",
        2,
        "--platform",
    ),
    "reserved-label": ('LABEL "org.dockerlab.sandbox"=someone-else', 2, "reserved"),
    "reserved-label-escaped": ("LABEL org.docker\\lab.owner=1", 2, "reserved"),
    "later-stage": (
        "COPY --from=later / /x\nFROM python:3.12-slim AS later",
        2,
        "earlier stage",
    ),
    "own-stage": (
        "FROM python:3.12-slim AS me\nCOPY --from=me / /x",
        3,
        "earlier stage",
    ),
    "stage-index": ("COPY --from=0 / /x", 2, "earlier stage"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_could_fetch_or_hide_is_refused_naming_the_line(name, alice, trap):
    body, line, reason = REFUSED[name]
    dockerfile = BASE + body.format(port=trap.port) + "\n"
    with pytest.raises(services.BadRequest) as info:
        services.build_image(alice, "refused", dockerfile)
    assert info.value.message.startswith(f"Line {line}:"), info.value.message
    assert reason in info.value.message
    assert trap.connections == 0


def test_another_sandboxes_image_cannot_be_read_however_it_is_written(
    alice, bob, bob_secret, trap
):
    name = f"dl-{bob.sid}/secret"
    short = bob_secret.split(":")[1][:12]
    for dockerfile, line in [
        # The old checker took escape=` from the second line; the builder stops
        # at the unknown directive and sees the COPY.
        (
            f"# foo=bar\n# escape=`\n{BASE}RUN echo hidden `\n"
            f"COPY --from={name} /secret /x\n",
            5,
        ),
        (f"FROM\v{name}\n", 1),
        (f"\rFROM {short}\n", 1),
        (f"{BASE}COPY\v--from={bob_secret}\v/secret\v/x\n", 2),
        (f"{BASE}COPY\f--from={short}\f/secret\f/x\n", 2),
        (f"FROM python:3.12-slim\fAS\rbase\nCOPY\r--from={name} /secret /x\n", 2),
        (f"{BASE}ONBUILD COPY --from=base / /x\n", 2),
        (f"{BASE}COPY --from=secret /secret /x\n", 2),
    ]:
        with pytest.raises(services.BadRequest) as info:
            services.build_image(alice, "stolen", dockerfile)
        assert info.value.message.startswith(f"Line {line}:"), (
            dockerfile,
            info.value.message,
        )
    assert trap.connections == 0


def test_a_trailing_continuation_cannot_swallow_our_label(alice, bob_secret):
    dockerfile = BASE + "RUN echo hi \\"
    _done(alice, "trailing", dockerfile)
    _check_built(alice, "trailing", dockerfile, [bob_secret])
    with pytest.raises(services.BadRequest, match="single backslash"):
        services.build_image(
            alice, "trailing", "# escape=`\n" + BASE + "RUN echo hi \\\n"
        )


def test_whitespace_the_old_checker_missed_is_read_as_the_engine_reads_it(
    alice, bob_secret
):
    dockerfile = (
        "\ufeff\t FROM\vpython:3.12-slim\fAS\rbase\r\n"
        "RUN echo built > /built\n"
        "FROM python:3.12-slim\n"
        "COPY\v--from=base\v/built\v/copied\n"
        "RUN cat /copied && echo \u2028 FROM nothing\n"
    )
    events = _done(alice, "spaces", dockerfile)
    assert [e["step"] for e in events if e["kind"] == "step"] == list(range(1, 10))
    _check_built(alice, "spaces", dockerfile, [bob_secret])


def test_the_directive_differential_builds_what_the_engine_reads(alice, bob_secret):
    dockerfile = (
        "# foo=bar\n# escape=`\n" + BASE + "RUN echo 'first `'\nRUN echo second\n"
    )
    events = _done(alice, "directives", dockerfile)
    text = "".join(e.get("text", "") for e in events)
    assert "first `" in text and "second" in text
    _check_built(alice, "directives", dockerfile, [bob_secret])


def test_copy_from_an_own_image_id_prefix_reads_that_image(
    alice, alice_own, bob_secret
):
    short = alice_own.split(":")[1][:10]
    dockerfile = BASE + f"COPY --from={short} /mine /mine\nRUN cat /mine\n"
    events = _done(alice, "copied", dockerfile)
    assert "alice-own" in "".join(e.get("text", "") for e in events)
    assert f"--from={alice_own}" in builds.prepare(alice, dockerfile).text
    _check_built(alice, "copied", dockerfile, [bob_secret])


def test_a_syntax_directive_is_dropped_with_a_note(alice, bob_secret):
    dockerfile = "# syntax=docker/dockerfile:1\n" + BASE + 'CMD ["true"]\n'
    events = _done(alice, "syntax", dockerfile)
    assert events[0]["kind"] == "line" and "syntax" in events[0]["text"]
    _check_built(alice, "syntax", dockerfile, [bob_secret])


def test_onbuild_triggers_are_ours_and_run_in_the_next_build(alice, bob_secret):
    parent = BASE + "ONBUILD RUN echo triggered-here\n"
    _done(alice, "parent", parent)
    assert client.api().inspect_image(f"dl-{alice.sid}/parent:latest")["Config"][
        "OnBuild"
    ] == ["RUN echo triggered-here"]
    events = _done(alice, "child", 'FROM parent\nCMD ["true"]\n')
    text = "".join(e.get("text", "") for e in events)
    assert "Executing 1 build trigger" in text and "triggered-here" in text
    _check_built(alice, "child", 'FROM parent\nCMD ["true"]\n', [bob_secret])


def test_a_quoted_label_of_the_learner_is_set_as_written(alice, bob_secret):
    dockerfile = BASE + 'LABEL "com.example.vendor"="ACME Labs" version=1\n'
    _done(alice, "labelled", dockerfile)
    labels = client.api().inspect_image(f"dl-{alice.sid}/labelled:latest")["Config"][
        "Labels"
    ]
    assert labels["com.example.vendor"] == "ACME Labs" and labels["version"] == "1"
    _check_built(alice, "labelled", dockerfile, [bob_secret])
