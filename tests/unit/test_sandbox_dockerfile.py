"""Dockerfiles are read the way the builder reads them: steps counted, images found."""

import pytest

from sandboxes.services import dockerfile as df

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


def test_it_counts_instructions_not_lines():
    assert df.count_steps(SAMPLE) == 7


def test_continued_instructions_are_joined():
    run = [ins for ins in df.instructions(SAMPLE) if ins.keyword == "RUN"][0]
    assert "-r requirements.txt" in run.args and "&& echo done" in run.args
    assert "comment" not in run.args
    assert run.line == 6


def test_it_honours_the_escape_directive():
    text = "# escape=`\nFROM scratch\nRUN a `\n  b\nCMD x\n"
    assert [i.keyword for i in df.instructions(text)] == ["FROM", "RUN", "CMD"]


def test_an_empty_dockerfile_has_no_steps():
    assert df.count_steps("") == 0
    assert df.count_steps("# only a comment\n\n") == 0


def test_lowercase_keywords_count_too():
    assert [i.keyword for i in df.instructions("from x\nrun y\n")] == ["FROM", "RUN"]


def test_it_finds_every_image_a_build_reads():
    text = (
        "FROM --platform=linux/amd64 python:3.12-slim AS builder\n"
        "RUN true\n"
        "FROM python:3.12-slim\n"
        "COPY --from=builder /opt/venv /opt/venv\n"
        "COPY --chown=1:1 --from=other/image:1 /x /y\n"
        "COPY app.py .\n"
    )
    uses = [(u.kind, u.image, u.line, u.stage) for u in df.image_uses(text)]
    assert uses == [
        ("from", "python:3.12-slim", 0, "builder"),
        ("from", "python:3.12-slim", 2, None),
        ("copy-from", "builder", 3, None),
        ("copy-from", "other/image:1", 4, None),
    ]


def test_the_sandbox_labels_are_one_last_label_step():
    from sandboxes.services.builds import with_labels
    from sandboxes.services.dockerfile import instructions

    text = with_labels("FROM python:3.12-slim\nCMD [\"true\"]\n", {"a.b": "1", "c.d": "x"})
    last = instructions(text)[-1]
    assert last.keyword == "LABEL"
    assert last.args == 'a.b="1" c.d="x"'
    assert len(instructions(text)) == 3


def test_a_dockerfile_ending_in_a_line_continuation_is_refused():
    from sandboxes.errors import BadRequest
    from sandboxes.services.builds import with_labels

    with pytest.raises(BadRequest, match="line continuation"):
        with_labels("FROM python:3.12-slim\nRUN echo hi \\\n", {"a": "1"})


def test_every_stage_of_a_multistage_build_ends_with_the_sandbox_labels():
    from sandboxes.services.builds import with_labels
    from sandboxes.services.dockerfile import instructions

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
    keywords = [ins.keyword for ins in instructions(with_labels(source, {"a": "1"}))]
    assert keywords == ["ARG", "FROM", "RUN", "LABEL", "FROM", "COPY", "LABEL"]


def test_line_breaks_the_builder_does_not_know_stay_inside_a_line():
    from sandboxes.services.dockerfile import instructions

    found = instructions("FROM python:3.12-slim\nRUN echo a\u2028FROM evil\n")
    assert [ins.keyword for ins in found] == ["FROM", "RUN"]
