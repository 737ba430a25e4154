"""Our Dockerfile parser against the engine's own, on the real engine.

Each accepted Dockerfile of the corpus is built twice: as written (the
learner's text, sent raw - only this test does that, with a trusted corpus
of instructions that run nothing), and as the lab emits it from its parse.
The two images' configurations must be equal: the engine reads our emission
exactly as it reads the original. Every Dockerfile our parser calls invalid
must fail on the engine too.

Everything built carries org.dockerlab.test=<run id> and is removed at the end.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import uuid

import pytest

from engine import client
from sandboxes.services import dockerfile as df

TEST_LABEL = "org.dockerlab.test"
BASE = "FROM python:3.12-slim\n"

# Instructions that change only the image's configuration, so both builds
# are cheap and compare exactly.
ACCEPTED = {
    "words-and-quotes": BASE
    + 'LABEL a=1 b="two words" c=\'single $x\' d=x\\ y e="q\\"uote"\n'
    + 'ENV E=1 F="$E-2" G=${E:-z} H=${NOPE:-dflt}\n'
    + 'ENV OLD some value "quoted" here\n'
    + "LABEL old style value\n",
    "continuations": BASE
    + "LABEL a=1 \\\n  # a comment inside\n\n  b=2\n"
    + "CMD echo a \\\n  b\\\n  c\n"
    + "ENV X=\\\n\\go\n",
    "whitespace-classes": "\ufeff\t FROM\vpython:3.12-slim\f\n"
    + "LABEL\va=1\f b=2\r\n"
    + "EXPOSE\v5002\f80/udp\r\n"
    + "ENV a=1\u2028b=2\u00a0c=3\n"
    + "LABEL x=1\rz=2\n"
    + 'CMD ["a",\t"b" ,\n',
    "cr-line-ends": BASE.replace("\n", "\r\n") + "LABEL a=1\r\nCMD x\r\r\n",
    "syntax-and-escape": "# syntax=docker/dockerfile:1\n# escape=`\n"
    + BASE
    + 'LABEL a=1 `\n  b=2\nCMD echo c:\\windows\\temp\nRUN ["true"]\n',
    "unknown-directive-first": "# foo=bar\n# escape=`\n" + BASE + "CMD echo `\n",
    "directive-after-blank": "\n# escape=`\n" + BASE + "CMD echo a`\n",
    "escape-in-json": "# escape=`\n" + BASE + 'CMD ["a\\\\b", "c`d"]\n',
    "keyword-case": (
        "from python:3.12-slim\nlabel a=1\nWOR\u212aDIR /app\nuser nobody\n"
    ),
    "stage-as-folds": "FROM python:3.12-slim a\u017f Base\nFROM base\nLABEL x=1\n",
    "healthcheck": BASE
    + "HEALTHCHECK --interval=5s --retries=3 cmd curl -f http://localhost/ || exit 1\n",
    "healthcheck-json": BASE + 'HEALTHCHECK --timeout=2s CMD ["true"]\n',
    "healthcheck-none": BASE + "HEALTHCHECK NONE\n",
    "onbuild": BASE + 'ONBUILD   RUN   echo hi  \nonbuild LABEL  x="1 2"\n',
    "misc": BASE
    + 'STOPSIGNAL SIGINT\nVOLUME ["/a", "/b c"]\nVOLUME /d /e\n'
    + "ENV D=/srv\nWORKDIR $D/app\nUSER 1000:1000\n"
    + 'SHELL ["/bin/bash", "-c"]\nCMD echo $HOME\nENTRYPOINT ["/bin/echo"]\n',
    "args": "ARG TOP=1\n"
    + BASE
    + 'ARG A=1 B\nARG C="x y"\nENV D=$A$C\nLABEL e="${C}"\n',
    "escapes-at-ends": BASE + "LABEL a=1\\\\\nLABEL b=2\nCMD echo \\\\\n",
    "escape-alone-on-a-line": BASE + "\\\nLABEL a=1\n",
    "trailing-continuation": BASE + "CMD echo hi \\",
    "flag-end-marker": BASE + "CMD -- --x\n",
    "json-empty": BASE + "CMD []\nENTRYPOINT []\n",
    "unicode": BASE
    + 'LABEL caf\u00e9="cr\u00e8me" \u20ac=1\nCMD ["echo", "\u00e9\u2028x"]\n',
}

INVALID = {
    "unknown": BASE + "FRUM x\n",
    "label-split-by-nbsp": BASE + "LABEL a=x\u00a0y\n",
    "two-escape-directives": "# escape=\\\n# ESCAPE=`\n" + BASE,
    "bad-escape": "# escape=x\n" + BASE,
    "copy-one-arg": BASE + "COPY a\n",
    "onbuild-onbuild": BASE + "ONBUILD ONBUILD RUN x\n",
    "onbuild-from": BASE + "ONBUILD FROM python:3.12-slim\n",
    "shell-not-json": BASE + "SHELL sh -c\n",
    "json-number": BASE + "CMD [1]\n",
    "bad-stage-name": "FROM python:3.12-slim AS 1x\n",
    "from-two-words": "FROM python:3.12-slim\r\rCMD x\n",
    "healthcheck-type": BASE + "HEALTHCHECK FOO x\n",
    "unknown-flag": BASE + "COPY --foo=1 a b\n",
    "flag-without-value": BASE + "COPY --from a b\n",
    "env-no-value": BASE + "ENV X\n",
    "user-nothing": BASE + "USER\n",
    "duplicate-stage": BASE.replace("\n", " AS a\n") * 2,
    "continuation-to-eof": BASE + "\\",
}


@pytest.fixture(scope="module")
def run_id():
    run = uuid.uuid4().hex[:12]
    yield run
    api = client.api()
    selector = {"label": f"{TEST_LABEL}={run}"}
    for container in api.containers(all=True, filters=selector):
        with contextlib.suppress(client.EngineError), client.translate_errors():
            api.remove_container(container["Id"], force=True)
    images = api.images(all=True, filters=selector)
    for image in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        with contextlib.suppress(client.EngineError), client.translate_errors():
            api.remove_image(image["Id"], force=True)


def _engine_build(text: str, run_id: str) -> tuple[dict | None, str]:
    """Build `text` as it is; (the image's config, or None on failure; output)."""
    data = text.encode("utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    api = client.api(timeout=300)
    output, image_id = [], None
    try:
        with client.translate_errors():
            for chunk in api.build(
                fileobj=buffer,
                custom_context=True,
                decode=True,
                rm=True,
                forcerm=True,
                pull=False,
                labels={TEST_LABEL: run_id},
                network_mode="none",
            ):
                output.append(chunk.get("stream") or chunk.get("error") or "")
                if "error" in chunk:
                    return None, "".join(output)
                image_id = (chunk.get("aux") or {}).get("ID") or image_id
    except client.EngineError as exc:  # refused before the first step
        return None, exc.message
    with client.translate_errors():
        config = api.inspect_image(image_id)["Config"]
    return config, "".join(output)


def _comparable(config: dict) -> dict:
    keys = (
        "Cmd",
        "Entrypoint",
        "Env",
        "ExposedPorts",
        "Healthcheck",
        "Labels",
        "Shell",
        "StopSignal",
        "User",
        "Volumes",
        "WorkingDir",
    )
    view = {key: config.get(key) for key in keys}
    # A trigger is kept as written after ONBUILD; compare what it says.
    view["OnBuild"] = [df.read_trigger(t) for t in config.get("OnBuild") or []]
    return view


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_engine_reads_our_emission_as_it_reads_the_original(name, run_id):
    text = ACCEPTED[name]
    parsed = df.parse(text)
    emitted = df.emit(parsed.instructions)
    original, out_original = _engine_build(text, run_id)
    ours, out_ours = _engine_build(emitted, run_id)
    assert original is not None, out_original
    assert ours is not None, out_ours
    assert _comparable(ours) == _comparable(original)
    # The engine numbers as many steps as we counted (plus the test's label).
    steps = df.steps(parsed.instructions) + 1
    assert f"Step 1/{steps} :" in out_ours
    assert f"Step 1/{steps} :" in out_original


@pytest.mark.parametrize("name", sorted(INVALID))
def test_what_we_call_invalid_the_engine_refuses_too(name, run_id):
    text = INVALID[name]
    with pytest.raises(df.InvalidDockerfile):
        df.parse(text)
    config, output = _engine_build(text, run_id)
    assert config is None, f"the engine built it:\n{output}"
