"""The lab's docker command lines parse into the websocket protocol's actions, and back.

Every "$ " line of every lesson either parses or is refused with a reason
for the learner; the lines the page offers "Try" buttons for all parse; the
actions are valid websocket messages; garbage is refused, never crashes.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from lessons import loader
from sandboxes import commands
from sandboxes.commands import Action, LineRefused, parse_line, render
from sandboxes.consumers import ACTIONS, parse_message

SAMPLES = {
    "Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "app.py"]\n',
    "Dockerfile.multistage": "FROM python:3.12-slim AS builder\nFROM python:3.12-slim\n",
}

# What static/js/lab.js offers a Try button for (its parse*Line regular expressions).
_TRY = [
    re.compile(r"^(?:time\s+)?docker\s+(?:container\s+)?run\s+(.*)$"),
    re.compile(r"^docker\s+(?:image\s+)?build\s+(.*)$"),
    re.compile(r"^docker\s+(?:image\s+)?(tag|push|pull|rmi)\s+(\S+)(?:\s+(\S+))?\s*$"),
    re.compile(r"^docker\s+compose\s+(up|ps|down|logs)((?:\s+\S+)*)\s*$"),
]


def _lesson_lines(steps_only: bool) -> list[tuple[str, str]]:
    found = []
    for lesson in loader.load_lessons():
        texts = [step.text for step in lesson.steps]
        if not steps_only:
            texts.append(lesson.body)
        for text in texts:
            found += [(lesson.slug, line) for line in commands.prompt_lines(text)]
    return found


def _offered_try(line: str) -> bool:
    if re.search(r"[`|;&<>]", line):
        return False
    return any(pattern.match(line) for pattern in _TRY)


def test_every_command_line_of_every_lesson_parses_or_says_why_not():
    lines = _lesson_lines(steps_only=False)
    assert len(lines) > 100
    parsed = refused = 0
    for slug, line in lines:
        try:
            result = parse_line(line)
        except LineRefused as exc:
            refused += 1
            assert len(exc.reason) > 20 and exc.code in (
                commands.HOST_ONLY,
                commands.UNSUPPORTED,
                commands.INVALID,
            ), (slug, line)
        else:
            parsed += 1
            assert result.actions, (slug, line)
    assert parsed > 50 and refused > 20


def test_every_try_line_of_the_lessons_steps_parses():
    offered = [(slug, line) for slug, line in _lesson_lines(steps_only=True) if _offered_try(line)]
    assert len(offered) >= 20
    for slug, line in offered:
        try:
            parse_line(line)
        except LineRefused as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{slug}: {line!r} offers Try but does not parse: {exc.reason}")


def test_every_parsed_action_is_a_valid_websocket_message():
    for slug, line in _lesson_lines(steps_only=False):
        try:
            result = parse_line(line)
        except LineRefused:
            continue
        for action in result.actions:
            request = parse_message(json.dumps({**action.message(), "ref": 1}))
            assert (request.action, request.args) == (action.action, action.args), (slug, line)


def test_the_lab_actions_are_the_protocols():
    assert set(commands.LAB_ACTIONS) <= set(ACTIONS)
    # Not docker commands: closing a stream, a lesson line, and the lesson
    # page's progress actions.
    progress_actions = {"watch", "check", "hint", "solution"}
    assert set(ACTIONS) - set(commands.LAB_ACTIONS) == {"unfollow", "line"} | progress_actions


@pytest.mark.parametrize(
    ("line", "actions"),
    [
        (
            "$ docker run -d --name web -p 127.0.0.1:5002:5002 flask-app",
            [Action("run", {"image": "flask-app", "name": "web", "port": 5002})],
        ),
        (
            "docker run --rm python:3.12-slim python --version",
            [
                Action(
                    "run",
                    {"image": "python:3.12-slim", "command": "python --version", "publish": False},
                    wait=True,
                    rm=True,
                )
            ],
        ),
        (
            "time docker run --rm python:3.12-slim true",
            [
                Action(
                    "run",
                    {"image": "python:3.12-slim", "command": "true", "publish": False},
                    wait=True,
                    rm=True,
                )
            ],
        ),
        (
            "docker run -d --name web flask-app",
            [Action("run", {"image": "flask-app", "name": "web", "publish": False})],
        ),
        (
            "docker run -it --name=db -e A=1 --env B=two --network flask-net mariadb:11",
            [
                Action(
                    "run",
                    {
                        "image": "mariadb:11",
                        "name": "db",
                        "env": {"A": "1", "B": "two"},
                        "publish": False,
                        "network": "flask-net",
                    },
                    wait=True,
                )
            ],
        ),
        (
            "docker run --rm python:3.12-slim python -c \"print('hi there')\"",
            [
                Action(
                    "run",
                    {
                        "image": "python:3.12-slim",
                        "command": "python -c \"print('hi there')\"",
                        "publish": False,
                    },
                    wait=True,
                    rm=True,
                )
            ],
        ),
        ("docker build -t flask-app .", [Action("build", {"tag": "flask-app"})]),
        ("docker build .", [Action("build", {"tag": "flask-app"})]),
        (
            "docker image build --no-cache -t flask-app:v2 .",
            [Action("build", {"tag": "flask-app:v2", "no_cache": True})],
        ),
        (
            "docker build -f Dockerfile.multistage -t flask-app:multi .",
            [
                Action(
                    "build",
                    {"tag": "flask-app:multi", "dockerfile": SAMPLES["Dockerfile.multistage"]},
                )
            ],
        ),
        (
            "docker tag flask-app 127.0.0.1:5000/flask-app:v1",
            [Action("tag", {"source": "flask-app", "target": "127.0.0.1:5000/flask-app:v1"})],
        ),
        (
            "docker push 127.0.0.1:5000/flask-app:v1",
            [Action("push", {"image": "127.0.0.1:5000/flask-app:v1"})],
        ),
        (
            "docker image pull 127.0.0.1:5000/flask-app:v1",
            [Action("pull", {"image": "127.0.0.1:5000/flask-app:v1"})],
        ),
        (
            "docker rmi flask-app flask-app:v2",
            [Action("rmi", {"image": "flask-app"}), Action("rmi", {"image": "flask-app:v2"})],
        ),
        (
            "docker rm -f web db",
            [Action("remove", {"container": "web"}), Action("remove", {"container": "db"})],
        ),
        ("docker container stop -t 3 web", [Action("stop", {"container": "web"})]),
        ("docker logs -f web", [Action("logs", {"container": "web"}, follow=True)]),
        ("docker logs --tail 50 web", [Action("logs", {"container": "web", "tail": 50})]),
        ("docker images", [Action("state")]),
        ("docker ps -a", [Action("state")]),
        (
            "docker inspect -f '{{.State.Status}}' web",
            [Action("inspect", {"kind": "container", "name": "web"})],
        ),
        (
            "docker inspect flask-app:v2",
            [Action("inspect", {"kind": "image", "name": "flask-app:v2"})],
        ),
        (
            "docker image inspect flask-app",
            [Action("inspect", {"kind": "image", "name": "flask-app"})],
        ),
        ("docker system prune -f", [Action("prune")]),
        (
            "docker volume rm flaskapp_db-data",
            [Action("volume_rm", {"volume": "flaskapp_db-data"})],
        ),
        ("docker compose up -d --build", [Action("compose", {"command": "up"})]),
        ("docker compose ps", [Action("compose", {"command": "ps"})]),
        ("docker compose down", [Action("compose", {"command": "down", "volumes": False})]),
        ("docker compose down -v", [Action("compose", {"command": "down", "volumes": True})]),
        (
            "docker compose logs -f web",
            [Action("logs", {"container": "flaskapp-web-1"}, follow=True)],
        ),
        (
            "docker compose logs --tail 5 --since 2m db",
            [Action("logs", {"container": "flaskapp-db-1", "tail": 5, "since": 120})],
        ),
        (
            "docker logs --since 1h30m web",
            [Action("logs", {"container": "web", "since": 5400})],
        ),
        (
            "docker network create flask-net",
            [Action("network", {"command": "create", "name": "flask-net"})],
        ),
        (
            "docker network create --driver bridge flask-net",
            [Action("network", {"command": "create", "name": "flask-net"})],
        ),
        ("docker network ls", [Action("network", {"command": "ls"})]),
        (
            "docker network inspect flask-net bridge",
            [
                Action("network", {"command": "inspect", "name": "flask-net"}),
                Action("network", {"command": "inspect", "name": "bridge"}),
            ],
        ),
        (
            "docker network connect flask-net web",
            [Action("network", {"command": "connect", "name": "flask-net", "container": "web"})],
        ),
        (
            "docker network disconnect flask-net web",
            [
                Action(
                    "network", {"command": "disconnect", "name": "flask-net", "container": "web"}
                )
            ],
        ),
        ("docker network rm flask-net", [Action("network", {"command": "rm", "name": "flask-net"})]),
        (
            "docker run --rm --network none python:3.12-slim python -c 'print(1)'",
            [
                Action(
                    "run",
                    {
                        "image": "python:3.12-slim",
                        "command": 'python -c "print(1)"',
                        "publish": False,
                        "network": "none",
                    },
                    wait=True,
                    rm=True,
                )
            ],
        ),
        (
            "docker run -d --network bridge --name web flask-app",
            [Action("run", {"image": "flask-app", "name": "web", "publish": False})],
        ),
        (
            'docker exec db mariadb -e "SELECT 1"',
            [Action("exec", {"container": "db", "command": 'mariadb -e "SELECT 1"'})],
        ),
        ("docker exec web env", [Action("exec", {"container": "web", "command": "env"})]),
        (
            "docker compose exec -T db mariadb --version",
            [Action("exec", {"container": "flaskapp-db-1", "command": "mariadb --version"})],
        ),
        (
            "docker compose restart web",
            [Action("restart", {"container": "flaskapp-web-1"})],
        ),
        ("docker history flask-app:multi", [Action("history", {"image": "flask-app:multi"})]),
        ("docker restart -t 2 web", [Action("restart", {"container": "web"})]),
        ("docker start web", [Action("start", {"container": "web"})]),
        ("docker volume prune -f", [Action("volume_prune", {"all": False})]),
        ("docker volume prune -a -f", [Action("volume_prune", {"all": True})]),
        (
            "docker build -f Dockerfile.multistage --target Builder -t flask-app:builder .",
            [
                Action(
                    "build",
                    {
                        "tag": "flask-app:builder",
                        "dockerfile": SAMPLES["Dockerfile.multistage"],
                        "target": "builder",
                    },
                )
            ],
        ),
    ],
)
def test_a_line_becomes_the_actions_the_page_would_send(line, actions):
    assert list(parse_line(line, SAMPLES).actions) == actions


def test_a_line_says_what_the_lab_does_differently():
    notes = parse_line("docker run -d --network flask-net -p 8080:5002 flask-app", SAMPLES).notes
    assert any("free port" in note for note in notes)


@pytest.mark.parametrize(
    "line",
    [
        "docker ps -a --filter name=hello",
        "docker ps -f name=web",
        "docker container ls --filter=name=web",
        "docker images --filter reference='*flask-app*'",
    ],
)
def test_a_filtered_listing_shows_the_lab_table_and_says_it_is_unfiltered(line):
    parsed = parse_line(line, SAMPLES)
    assert [a.action for a in parsed.actions] == ["state"]
    assert any("lists all your" in note for note in parsed.notes)


def test_compose_restart_without_a_service_restarts_every_service_of_the_sample():
    actions = parse_line("docker compose restart").actions
    assert {a.args["container"] for a in actions} == {"flaskapp-web-1", "flaskapp-db-1"}
    assert {a.action for a in actions} == {"restart"}


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        ("", "invalid", "empty"),
        ("   ", "invalid", "empty"),
        ("$ ", "invalid", "empty"),
        ("rm -rf /", "host_only", "your own machine"),
        ("curl http://127.0.0.1:5002/", "host_only", "Open app"),
        ("docker", "invalid", "which docker command"),
        ("docker run", "invalid", "needs an image"),
        ("docker run --privileged flask-app", "unsupported", "--privileged"),
        ("docker run -v /:/host flask-app", "unsupported", "-v"),
        ("docker run --name web", "invalid", "needs an image"),
        ("docker run -e", "invalid", "needs a value"),
        ("docker run flask-app; rm -rf /", "host_only", "';'"),
        ("docker run flask-app && echo hi", "host_only", "&"),
        ("docker run $(whoami)", "host_only", "$"),
        ('docker run "$HOME"', "host_only", "$"),
        ("docker run `id`", "host_only", "command substitution"),
        ("docker run flask-app > /tmp/out", "host_only", "redirection"),
        ("docker rmi flask-*", "host_only", "*"),
        ("docker run 'unterminated", "invalid", "quote"),
        ("docker run -e PATH flask-app", "invalid", "NAME=value"),
        ("docker run -e 1X=2 flask-app", "invalid", "variable name"),
        ("docker run -p 99999 flask-app", "invalid", "port number"),
        ("docker run -p web flask-app", "invalid", "port mapping"),
        ("docker run -p 5000/udp flask-app", "unsupported", "TCP"),
        ("docker run -p 1:1 -p 2:2 flask-app", "unsupported", "one port"),
        ("docker run --name ../etc flask-app", "invalid", "not allowed"),
        ("docker run --name dl-x/y flask-app", "invalid", "not allowed"),
        ("docker run Evil/Image", "invalid", "'/' too many"),
        ("docker pull evil.example.com/x:1", "invalid", "'/' too many"),
        ("docker pull 127.0.0.1:99999/x", "invalid", "port"),
        ("docker build -f ../../etc/passwd .", "invalid", "sample app's Dockerfiles"),
        ("docker build -f Dockerfile.missing .", "invalid", "sample app's Dockerfiles"),
        ("docker build /", "unsupported", "single '.'"),
        ("docker build https://evil.example/repo.git", "unsupported", "single '.'"),
        ("docker build -t x:y:z .", "invalid", "not allowed"),
        ("docker build -t a -t b .", "unsupported", "one name"),
        ("docker build --target 'x y' .", "invalid", "stage name"),
        ("docker tag flask-app", "invalid", "source and a target"),
        ("docker push", "invalid", "one image"),
        ("docker rmi -f flask-app", "unsupported", "-f"),
        ("docker logs web db", "invalid", "one container"),
        ("docker logs --tail many web", "invalid", "--tail"),
        ("docker ps --filter status=exited", "unsupported", "name=..."),
        ("docker images --filter dangling=true", "unsupported", "reference=..."),
        ("docker ps --filter name=", "invalid", "a name or a pattern"),
        ("docker ps --filter 'name=a b'", "invalid", "a name or a pattern"),
        ("docker system prune -a", "unsupported", "-a"),
        ("docker network create bridge", "invalid", "docker's own"),
        ("docker network create -d overlay mesh", "unsupported", "bridge networks only"),
        ("docker network create Flask/Net", "invalid", "network name"),
        ("docker network prune", "unsupported", "docker network rm"),
        ("docker network connect host web", "invalid", "--network host"),
        ("docker network inspect host", "host_only", "server's own network"),
        ("docker run --network host flask-app", "host_only", "server's own network"),
        ("docker run --net=host flask-app", "host_only", "server's own network"),
        ("docker run --network none -p 5002:5002 flask-app", "invalid", "--network none"),
        ("docker exec -it web sh", "host_only", "interactive terminal"),
        ("docker exec web", "invalid", "a container and a command"),
        ("docker logs --since 2026-01-01 web", "invalid", "duration"),
        ("docker logs --since 900h web", "invalid", "168h"),
        ("docker swarm init", "host_only", "running already"),
        ("docker history a b", "invalid", "one image"),
        ("docker service create flask-app", "invalid", "Name the service"),
        ("docker login", "host_only", "no login"),
        ("docker compose exec db", "invalid", "a service and a command"),
        ("docker compose run web", "unsupported", "restart and exec"),
        ("docker compose -f other.yaml up", "unsupported", "without options"),
        ("docker compose logs", "invalid", "one service"),
        ("docker compose up web", "invalid", "no service names"),
        ("docker version", "host_only", "your own machine"),
        ("docker run flask-app\nrm -rf /", "invalid", "one line"),
        ("docker run flask-app\x00", "invalid", "one line"),
        ("docker run " + "x" * 5000, "invalid", "too long"),
        (
            "docker run " + " ".join(f"-e A{i}=1" for i in range(40)) + " flask-app",
            "unsupported",
            "at most 32",
        ),
    ],
)
def test_garbage_lines_are_refused_with_a_reason(line, code, words):
    with pytest.raises(LineRefused) as caught:
        parse_line(line, SAMPLES)
    assert caught.value.code == code
    assert words in caught.value.reason


@pytest.mark.parametrize("value", [None, 7, b"docker ps", ["docker", "ps"]])
def test_a_line_that_is_not_text_is_refused(value):
    with pytest.raises(LineRefused, match="must be text"):
        parse_line(value)


def test_rendering_a_parsed_line_gives_the_same_actions_back():
    seen = 0
    for _, line in _lesson_lines(steps_only=False):
        try:
            parsed = parse_line(line)
        except LineRefused:
            continue
        for action in parsed.actions:
            again = parse_line(render(action.action, action.args)).actions
            assert [(a.action, a.args) for a in again] == [(action.action, action.args)], line
            seen += 1
    assert seen > 50


def test_rendering_names_what_a_line_cannot_show():
    assert render("build", {"tag": "x", "dockerfile": "FROM scratch\n"}, SAMPLES).endswith(
        "# with your own Dockerfile"
    )
    assert render(
        "build", {"tag": "x", "dockerfile": SAMPLES["Dockerfile.multistage"]}, SAMPLES
    ) == ("docker build -f Dockerfile.multistage -t x .")
    assert render("compose", {"command": "up", "file": "services: {}"}).endswith("compose.yaml")
    assert render("run", {"image": "x", "command": "echo 'a b'; rm -rf /"}) == (
        'docker run x echo "a b;" rm -rf /'
    )
    # A value with shell characters is quoted, never left to a shell to read.
    assert render("run", {"image": "x", "name": "web", "env": {"A": "$(id)"}}) == (
        "docker run -d --name web -e 'A=$(id)' x"
    )


def test_continued_lines_are_joined_like_the_page_joins_them():
    text = "Intro `docker ps`\n\n```console\n$ docker run -d --name db \\\n    -e A=1 \\\n    mariadb:11\nOutput\n```\n"
    assert list(commands.prompt_lines(text)) == ["docker run -d --name db -e A=1 mariadb:11"]


@pytest.mark.parametrize(
    "words",
    [
        ["python", "-c", "print('hi')"],
        ["sh", "-c", "echo $HOME"],
        ["a b"],
        ['x"y'],
        ["back\\slash"],
        [""],
        ["!bang"],
        ["{{.State}}"],
        ["a\n"],
        ["tab\there"],
    ],
)
def test_joined_words_split_back_into_the_same_words(words):
    assert shlex.split(commands.join_words(words)) == words
