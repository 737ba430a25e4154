"""The lab's front-end modules, each tried alone in Chromium.

No socket and no engine: a page of the site imports one module
(static/js/lab/) and calls it on plain inputs.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

IMAGES = {"python:3.12-slim": "python:3.12-slim", "mariadb:11": "mariadb:11"}


@pytest.fixture
def modules(page):
    page.goto("/lessons/")
    return page


def _call(page, module: str, expression: str, arg=None):
    """Evaluate `expression` (using `m`, the module, and `arg`) in the page."""
    return page.evaluate(
        "async (arg) => {"
        f" const m = await import('/static/js/lab/{module}'); return {expression}; "
        "}",
        arg,
    )


def _run(page, line: str):
    return _call(page, "parse.js", "m.parseRunLine(arg.line, arg.images)",
                 {"line": line, "images": IMAGES})


def test_docker_run_lines_of_the_lessons_become_run_actions(modules):
    assert _run(modules, "$ docker run --rm python:3.12-slim python --version") == {
        "rm": True, "name": None, "image": "python:3.12-slim", "command": "python --version",
        "env": {}, "port": None, "network": None,
    }
    db = _run(modules, "$ docker run -d --name db --network flask-net "
                       "-e MARIADB_ROOT_PASSWORD=root-secret -e MARIADB_DATABASE=visits mariadb:11")
    assert (db["name"], db["network"], db["image"], db["command"]) == (
        "db", "flask-net", "mariadb:11", "")
    assert db["env"] == {"MARIADB_ROOT_PASSWORD": "root-secret", "MARIADB_DATABASE": "visits"}
    web = _run(modules, "$ docker run -d --name=web -p 127.0.0.1:8080:5002/tcp flask-app")
    assert (web["name"], web["port"], web["image"]) == ("web", 5002, "flask-app")
    # A command may carry quotes: the server splits it like a shell would.
    quoted = _run(modules, "$ time docker container run --rm python:3.12-slim sh -c 'echo $HOME'")
    assert quoted["command"] == "sh -c 'echo $HOME'"


REFUSED = [
    "docker run python:3.12-slim",  # not a shell line of the lesson
    "$ docker run --rm python:3.12-slim ls | wc -l",  # a pipe needs a shell
    "$ docker run --rm python:3.12-slim echo hi; rm -rf /",
    "$ docker run --privileged python:3.12-slim",  # an option the lab does not do
    "$ docker run -e NOVALUE python:3.12-slim",
    "$ docker run -p 127.0.0.1:80:99999 flask-app",
    "$ docker run --name '$(id)' flask-app",  # quotes in the options
    "$ docker run --rm",  # no image
    "$ docker run --rm Python:Latest",  # not an image name
]


def test_lines_the_lab_cannot_do_as_written_get_no_try_button(modules):
    parsed = _call(modules, "parse.js", "arg.map((line) => m.parseRunLine(line, {}))", REFUSED)
    assert {line: p for line, p in zip(REFUSED, parsed) if p is not None} == {}


def test_the_run_line_shown_is_what_the_form_does(modules):
    args = {"image": "flask-app", "name": "web", "env": {"A": "1"}, "port": 5002,
            "command": "python app.py"}
    assert _call(modules, "parse.js", "m.runLine(arg, true)", args) == (
        "$ docker run --rm --name web -e A=1 -p 127.0.0.1:<any free port>:5002 "
        "flask-app python app.py"
    )


def test_build_lines_pick_one_of_the_samples_dockerfiles(modules):
    samples = {"Dockerfile": "FROM x", "Dockerfile.multistage": "FROM y"}

    def build(line):
        return _call(modules, "parse.js", "m.parseBuildLine(arg.line, arg.samples)",
                     {"line": line, "samples": samples})

    assert build("$ docker build -t flask-app:single .") == {
        "file": "Dockerfile", "tag": "flask-app:single", "noCache": False}
    assert build("$ docker build --no-cache -f Dockerfile.multistage -t flask-app:multi .") == {
        "file": "Dockerfile.multistage", "tag": "flask-app:multi", "noCache": True}
    assert build("$ docker build -f Dockerfile.other -t x .") is None
    assert build("$ docker build -f constructor -t x .") is None
    assert build("$ docker build -t x https://example.org/repo.git") is None
    assert build("$ docker build -t x . --pull") is None


def test_image_and_compose_lines(modules):
    def image(line):
        return _call(modules, "parse.js", "m.parseImageLine(arg)", line)

    def compose(line):
        return _call(modules, "parse.js", "m.parseComposeLine(arg)", line)

    assert image("$ docker tag flask-app 127.0.0.1:5000/flask-app:v1") == {
        "op": "tag", "label": "docker tag flask-app 127.0.0.1:5000/flask-app:v1",
        "source": "flask-app", "target": "127.0.0.1:5000/flask-app:v1"}
    pushed = image("$ docker push 127.0.0.1:5000/flask-app:v1")
    assert pushed["image"] == "127.0.0.1:5000/flask-app:v1"
    assert image("$ docker tag flask-app") is None
    assert image("$ docker push a b") is None
    assert image("$ docker rmi Flask-App") is None
    assert compose("$ docker compose up -d --build") == {
        "command": "up", "volumes": False, "label": "up -d --build"}
    assert compose("$ docker compose down -v")["volumes"] is True
    assert compose("$ docker compose logs -f web") == {
        "command": "logs", "logs": "web", "label": "logs -f web"}
    assert compose("$ docker compose up --scale web=3") is None
    assert compose("$ docker compose logs web db") is None
    text = "$ docker run \\\n   --rm x\nnext"
    joined, after = _call(modules, "parse.js", "m.logicalLines(arg)", text)
    assert (joined.split(), after) == (["$", "docker", "run", "--rm", "x"], "next")


def test_a_pane_keeps_its_last_lines_and_says_how_many_it_trimmed(modules):
    result = _call(modules, "pane.js", """(() => {
        const node = document.createElement('div');
        document.body.appendChild(node);
        const pane = new m.Pane(node, 100);
        const lines = (from, n) => Array.from({length: n}, (_, i) => 'line ' + (from + i));
        pane.add(lines(0, 60));
        const before = node.childNodes.length;
        pane.add(lines(60, 70));
        pane.add(lines(130, 500));
        pane.note('<b>not bold</b>');
        return {
          before: before,
          count: node.querySelectorAll('.line:not([data-pane-trimmed])').length,
          first: node.childNodes[1].textContent,
          last: node.lastChild.textContent,
          marker: node.firstChild.textContent,
          bold: node.querySelectorAll('b').length,
        };
    })()""")
    assert result["before"] == 60
    assert result["count"] == 100
    assert result["first"] == "line 531"
    assert result["last"] == "<b>not bold</b>"
    assert result["marker"] == "… 531 earlier lines trimmed (this pane keeps the last 100) …"
    assert result["bold"] == 0


def test_frames_go_to_their_types_handlers_then_to_patterns(modules):
    seen = _call(modules, "dispatch.js", """(() => {
        const d = new m.Dispatch();
        const seen = [];
        d.on('*', (f) => seen.push('any:' + f.type));
        d.on('*.start', (f) => seen.push('start:' + f.type));
        d.on('build.start', () => { throw new Error('a broken handler'); });
        d.on('build.start', (f) => seen.push('build:' + f.stream));
        d.emit({type: 'build.start', stream: 'b1'});
        d.emit({type: 'check.start', stream: 'k2'});
        d.emit({type: 'state'});
        return seen;
    })()""")
    assert seen == [
        "build:b1", "start:build.start", "any:build.start",
        "start:check.start", "any:check.start",
        "any:state",
    ]


def test_a_streams_frames_reach_the_view_that_opened_it_and_no_other(modules):
    seen = _call(modules, "streams.js", """(async () => {
        const {Dispatch} = await import('/static/js/lab/dispatch.js');
        const d = new Dispatch();
        let n = 0;
        const socket = {request() {
          n += 1; const p = new Promise(() => {}); p.ref = 'r' + n; return p;
        }};
        const streams = new m.Streams(socket, d);
        const seen = [];
        const view = (name) => ({
          start: (f) => seen.push(name + ' start ' + f.stream),
          step: (f) => seen.push(name + ' step ' + f.step),
          output: (f) => seen.push(name + ' ' + f.lines.join(',')),
          end: (f) => seen.push(name + ' end ' + f.type),
          dropped: () => seen.push(name + ' dropped'),
        });
        streams.open('build', {}, view('build'));
        streams.open('logs', {}, view('logs'));
        d.emit({type: 'logs.start', ref: 'r2', stream: 'l7'});
        d.emit({type: 'build.start', ref: 'r1', stream: 'b8'});
        d.emit({type: 'output', stream: 'b8', lines: ['a', 'b']});
        d.emit({type: 'output', stream: 'zz', lines: ['nobody']});
        d.emit({type: 'build.step', stream: 'b8', step: 2});
        d.emit({type: 'logs.end', stream: 'l7'});
        d.emit({type: 'output', stream: 'l7', lines: ['late']});
        d.emit({type: '_closed'});
        d.emit({type: 'build.done', stream: 'b8'});
        return seen;
    })()""")
    assert seen == [
        "logs start l7", "build start b8", "build a,b", "build step 2", "logs end logs.end",
        "build dropped",
    ]
