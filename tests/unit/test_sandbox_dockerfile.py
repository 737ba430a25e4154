"""Dockerfiles are read the way the builder reads them: steps counted, images found,
labels placed around every stage."""

import pytest

from sandboxes.errors import SandboxError
from sandboxes.services import dockerfile as df
from sandboxes.services.builds import EXPIRY_LABEL, labelled, with_labels

SAMPLE = """\
# A comment before anything
FROM python:3.12-slim

WORKDIR /app
# Dependencies first.
COPY requirements.txt .
RUN pip install --no-cache-dir \\
    # a comment inside a continuation is dropped
    -r requirements.txt \\

    && echo done
COPY . .
EXPOSE 5002
CMD ["python", "app.py"]
"""


def keywords(text: str) -> list[str]:
    return [ins.keyword for ins in df.parse(text).instructions]


def test_it_counts_instructions_not_lines():
    assert df.steps(df.parse(SAMPLE).instructions) == 7


def test_continued_instructions_are_joined_as_the_builder_joins_them():
    run = [ins for ins in df.parse(SAMPLE).instructions if ins.keyword == "RUN"][0]
    # The parts are joined with nothing between them; comment lines and the
    # empty line inside the continuation are dropped.
    assert run.args == (
        "pip install --no-cache-dir     -r requirements.txt     && echo done",
    )
    assert run.line == 7


def test_it_honours_the_escape_directive():
    text = "# escape=`\nFROM scratch\nRUN a `\n  b\nCMD x\n"
    parsed = df.parse(text)
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "CMD"]
    assert parsed.escape == "`"
    assert parsed.instructions[1].args == ("a   b",)


def test_an_empty_dockerfile_is_refused_like_the_builder_does():
    for text in ("", "# only a comment\n\n", "\n\n  \n"):
        with pytest.raises(df.InvalidDockerfile, match="no instructions"):
            df.parse(text)


def test_lowercase_keywords_count_too():
    assert keywords("from x\nrun y\n") == ["FROM", "RUN"]


def test_it_finds_every_image_a_build_reads():
    text = (
        "FROM python:3.12-slim AS Builder\n"
        "RUN true\n"
        "FROM python:3.12-slim\n"
        "COPY --from=builder /opt/venv /opt/venv\n"
        "COPY --chown=1:1 --from=other/image:1 /x /y\n"
        "COPY app.py .\n"
    )
    found = df.parse(text).instructions
    assert [(i.args, i.stage) for i in found if i.keyword == "FROM"] == [
        (("python:3.12-slim", "AS", "builder"), "builder"),
        (("python:3.12-slim",), None),
    ]
    assert [i.flag("from") for i in found if i.keyword == "COPY"] == [
        "builder",
        "other/image:1",
        None,
    ]
    assert found[4].flags == (("chown", "1:1"), ("from", "other/image:1"))


def test_the_stable_labels_follow_from_and_the_expiry_ends_the_stage():
    labels = {"a.b": "1", "c.d": "x", EXPIRY_LABEL: "2030-01-01T00:00:00Z"}
    text = with_labels('FROM python:3.12-slim\nCMD ["true"]\n', labels)
    assert text == (
        "FROM python:3.12-slim\n"
        'LABEL a.b="1" c.d="x"\n'
        'CMD ["true"]\n'
        f'LABEL {EXPIRY_LABEL}="2030-01-01T00:00:00Z"\n'
    )


def test_a_trailing_line_continuation_cannot_swallow_the_labels():
    text = with_labels("FROM python:3.12-slim\nRUN echo hi \\\n", {EXPIRY_LABEL: "x"})
    assert text.endswith(f'RUN echo hi\nLABEL {EXPIRY_LABEL}="x"\n')
    assert keywords(text)[-1] == "LABEL"


def test_every_stage_of_a_multistage_build_carries_the_sandbox_labels():
    source = (
        "ARG BASE=python:3.12-slim\n"
        "FROM ${BASE} AS builder\n"
        "RUN echo build \\\n"
        "    && echo more\n"
        "\n"
        "# the runtime stage\n"
        "FROM python:3.12-slim\r\n"
        "COPY --from=builder /opt /opt\n"
    )
    result = labelled(df.parse(source).instructions, {"a": "1", EXPIRY_LABEL: "x"})
    assert [(i.keyword, i.args[:1]) for i in result] == [
        ("ARG", ("BASE=python:3.12-slim",)),
        ("FROM", ("${BASE}",)),
        ("LABEL", ("a",)),
        ("RUN", ("echo build     && echo more",)),
        ("LABEL", (EXPIRY_LABEL,)),
        ("FROM", ("python:3.12-slim",)),
        ("LABEL", ("a",)),
        ("COPY", ("/opt",)),
        ("LABEL", (EXPIRY_LABEL,)),
    ]


def test_line_breaks_the_builder_does_not_know_stay_inside_a_line():
    found = df.parse("FROM python:3.12-slim\nRUN echo a\u2028FROM evil\n").instructions
    assert [ins.keyword for ins in found] == ["FROM", "RUN"]
    assert found[1].args == ("echo a\u2028FROM evil",)


def test_a_label_value_the_lab_cannot_write_is_an_error_not_a_quoting_problem():
    with pytest.raises(SandboxError, match="cannot be written"):
        with_labels("FROM scratch\n", {"a": 'x" y'})
