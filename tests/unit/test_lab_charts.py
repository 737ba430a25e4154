"""The app.py edit, the layers and the start timing, without an engine.

A learner's app.py replaces the sample's only inside the build's in-memory
archive and only under that name; bad texts are refused with a learner's
message. History rows read as Dockerfile instructions. The timing's bounds
and cited figures hold. The websocket refuses out-of-range arguments.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from sandboxes.consumers import ProtocolError, parse_message
from sandboxes.errors import BadRequest
from sandboxes.services import builds, layers, timing
from sandboxes.services.builds import APP_FILE, MAX_APP, build_context, check_app


def _sample(tmp_path):
    (tmp_path / "app.py").write_text("GREETING = 'sample'\n")
    (tmp_path / "greet.c").write_text("/* C */\n")
    (tmp_path / "Dockerfile").write_text("FROM original\n")
    return tmp_path


def _members(archive) -> dict[str, bytes]:
    with tarfile.open(fileobj=archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_the_learners_app_replaces_the_samples_in_the_archive_only(tmp_path):
    sample = _sample(tmp_path)
    files = _members(build_context(sample, "FROM learner\n", "GREETING = 'mine'\n"))
    assert sorted(files) == ["Dockerfile", "app.py", "greet.c"]
    assert files["app.py"] == b"GREETING = 'mine'\n"
    assert files["greet.c"] == b"/* C */\n"
    assert (sample / "app.py").read_text() == "GREETING = 'sample'\n"


def test_without_an_edit_the_samples_app_is_built(tmp_path):
    files = _members(build_context(_sample(tmp_path), "FROM learner\n"))
    assert files["app.py"] == b"GREETING = 'sample'\n"


def test_the_edited_app_is_the_same_file_to_the_cache_each_time(tmp_path):
    sample = _sample(tmp_path)
    infos = []
    for _ in range(2):
        with tarfile.open(fileobj=build_context(sample, "FROM x\n", "print(1)\n")) as tar:
            info = tar.getmember(APP_FILE)
            infos.append((info.mtime, info.mode, info.uid, info.size))
    assert infos[0] == infos[1]


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",
        "Dockerfile",
        "greet.c\x00",
        "/app/app.py",
    ],
)
def test_whatever_the_text_says_it_lands_in_app_py_alone(tmp_path, text):
    sample = _sample(tmp_path)
    try:
        text = check_app(text)
    except BadRequest:
        return  # refused before any archive is made
    files = _members(build_context(sample, "FROM x\n", text))
    assert sorted(files) == ["Dockerfile", "app.py", "greet.c"]
    assert files["app.py"] == text.encode()
    assert files["Dockerfile"] == b"FROM x\n"


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (b"print(1)", "must be text"),
        (None, "must be text"),
        ("x" * (MAX_APP + 1), "too large"),
        ("é" * (MAX_APP // 2 + 1), "too large"),  # counted in UTF-8 bytes
        ("\ud800", "not valid text"),
        ("print(1)\x00", "control characters"),
        ("print(1)\x1b[2J", "control characters"),
        ("print(1)\x7f", "control characters"),
        (" \n\t", "empty"),
    ],
)
def test_bad_app_texts_are_refused_for_a_learner(app, message):
    with pytest.raises(BadRequest, match=message):
        check_app(app)


def test_ordinary_python_is_accepted_tabs_form_feeds_and_crlf_included():
    text = "def f():\r\n\treturn 1\n\x0c\n# é ✓\n"
    assert check_app(text) == text


def test_the_samples_own_app_fits_the_bound():
    assert len((builds.sample_dir() / "app.py").read_bytes()) < MAX_APP // 4


@pytest.mark.parametrize(
    ("created_by", "instruction"),
    [
        ('/bin/sh -c #(nop)  CMD ["python" "app.py"]', 'CMD ["python" "app.py"]'),
        ("/bin/sh -c #(nop) COPY file:abc in . ", "COPY file:abc in ."),
        ("/bin/sh -c gcc -O2 -o greet.so greet.c", "RUN gcc -O2 -o greet.so greet.c"),
        ("RUN /bin/sh -c pip install x # buildkit", "RUN /bin/sh -c pip install x"),
        ("", ""),
    ],
)
def test_history_rows_read_as_instructions(created_by, instruction):
    assert layers.instruction(created_by) == instruction


@pytest.mark.parametrize("runs", [0, -1, timing.MAX_RUNS + 1, True, 2.0, "3", None])
def test_the_timing_takes_a_bounded_number_of_runs(runs):
    with pytest.raises(BadRequest):
        timing.check_runs(runs)


def test_every_cited_vm_figure_names_its_source_and_what_it_measured():
    assert timing.CITED_VM_BOOTS
    for boot in timing.CITED_VM_BOOTS:
        assert boot["seconds"] > 0
        assert boot["source"] and boot["label"] and boot["note"]


def _message(**fields) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "timing", "runs": 0},
        {"action": "timing", "runs": timing.MAX_RUNS + 1},
        {"action": "timing", "runs": "5"},
        {"action": "timing", "image": "python:3.12-slim"},
        {"action": "history"},
        {"action": "history", "image": ""},
        {"action": "history", "image": 3},
        {"action": "build", "app": "x" * (MAX_APP + 1)},
        {"action": "build", "app": ["app.py"]},
        {"action": "build", "app_file": "x"},
    ],
)
def test_the_socket_refuses_bad_arguments(fields):
    with pytest.raises(ProtocolError) as info:
        parse_message(_message(ref="r", **fields))
    assert info.value.code == "bad_request"


def test_the_socket_takes_good_ones():
    assert parse_message(_message(action="timing", runs=5)).args == {"runs": 5}
    assert parse_message(_message(action="timing")).args == {}
    assert parse_message(_message(action="history", image="flask-app:multi")).args == {
        "image": "flask-app:multi"
    }
    assert parse_message(_message(action="build", app="print(1)\n")).args == {
        "app": "print(1)\n"
    }
