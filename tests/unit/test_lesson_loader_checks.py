"""Lesson files carry checks, hints, solutions and challenges, all validated on load."""

from __future__ import annotations

import pytest

from lessons.loader import LessonError, load_lessons
from lessons.testing import write_lesson

RUN_WEB = "docker run -d --name web -p 127.0.0.1:5002:5002 flask-app"
WEB_UP = {"check": "container_running", "with": {"name": "web", "image": "flask-app", "port": 5002}}
CHALLENGE = {
    "title": "Two of them",
    "goal": "Run a second app container named `web2`.",
    "hints": ["Use --name.", "Publish port 5002."],
    "solution": ["docker run -d --name web2 -p 127.0.0.1:5002:5002 flask-app"],
    "checks": [{"check": "container_running", "with": {"name": "web2"}}],
}
QUIZ = [{"question": "Q?", "options": ["x", "y"], "answer": 1, "explain": "Because."}]


def load(tmp_path, **front):
    write_lesson(tmp_path / "content", "03-x.md", **front)
    return load_lessons(tmp_path / "content", root=tmp_path)[0]


def step(**fields):
    return {
        "title": "Run it",
        "text": f"```console\n$ {RUN_WEB}\n$ curl http://127.0.0.1:5002/\n```",
        **fields,
    }


def test_a_step_carries_checks_hints_and_its_own_lines_as_solution(tmp_path):
    lesson = load(tmp_path, steps=[step(action="run", checks=[WEB_UP], hints=["Use -d."])])
    (first,) = lesson.steps
    assert [spec.name for spec in first.checks] == ["container_running"]
    assert first.checks[0].params == {"name": "web", "image": "flask-app:latest", "port": 5002}
    assert first.hints == ("Use -d.",)
    # The curl line runs on the learner's machine, so it is not part of the solution.
    assert first.solution == (RUN_WEB,)


def test_an_explicit_solution_replaces_the_steps_own_lines(tmp_path):
    lesson = load(
        tmp_path, steps=[step(checks=[WEB_UP], solution=["docker build -t flask-app .", RUN_WEB])]
    )
    assert lesson.steps[0].solution == ("docker build -t flask-app .", RUN_WEB)


def test_a_lesson_carries_challenges_and_its_whole_solution(tmp_path):
    lesson = load(tmp_path, steps=[step(checks=[WEB_UP])], challenges=[CHALLENGE])
    (challenge,) = lesson.challenges
    assert challenge.title == "Two of them" and challenge.hints == (
        "Use --name.",
        "Publish port 5002.",
    )
    assert lesson.solution == (("step 1", RUN_WEB), ("challenge 1", CHALLENGE["solution"][0]))
    assert lesson.checked


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ({"steps": [step(check=[WEB_UP])]}, r"'steps\[0\]' has unknown key 'check'"),
        ({"steps": [step(checks=[])]}, r"'steps\[0\]\.checks' must not be empty"),
        ({"steps": [step(checks=WEB_UP)]}, r"'steps\[0\]\.checks' must be a list"),
        (
            {"steps": [step(checks=[{"check": "container_runing", "with": {"name": "web"}}])]},
            r"'steps\[0\]\.checks\[0\]\.check' must name a known check",
        ),
        (
            {"steps": [step(checks=[{"check": "container_running", "with": {"name": "Web!"}}])]},
            r"'steps\[0\]\.checks\[0\]\.with\.name' must be a container name",
        ),
        (
            {
                "steps": [
                    step(
                        checks=[
                            {"check": "http_answers", "with": {"container": "web", "port": "5002"}}
                        ]
                    )
                ]
            },
            r"'steps\[0\]\.checks\[0\]\.with\.port' must be a port number",
        ),
        ({"steps": [step(checks=[WEB_UP] * 13)]}, r"'steps\[0\]\.checks' has more than 12 checks"),
        ({"steps": [step(hints=[])]}, r"'steps\[0\]\.hints' must not be empty"),
        ({"steps": [step(hints=[""])]}, r"'steps\[0\]\.hints\[0\]' must be a non-empty string"),
        (
            {"steps": [step(solution=["curl http://127.0.0.1:5002/"])]},
            r"'steps\[0\]\.solution\[0\]' is not a line the lab can run: `curl` runs on your own machine",
        ),
        (
            {"steps": [step(solution=["docker run --privileged flask-app"])]},
            r"'steps\[0\]\.solution\[0\]' is not a line the lab can run: .*--privileged",
        ),
        (
            {"steps": [step(solution=[RUN_WEB] * 21)]},
            r"'steps\[0\]\.solution' has more than 20 lines",
        ),
        ({"challenges": [{**CHALLENGE, "goal": None}]}, r"'challenges\[0\]\.goal' is missing"),
        (
            {"challenges": [{k: v for k, v in CHALLENGE.items() if k != "hints"}]},
            r"'challenges\[0\]\.hints' is missing",
        ),
        (
            {"challenges": [{**CHALLENGE, "hints": []}]},
            r"'challenges\[0\]\.hints' must not be empty",
        ),
        (
            {"challenges": [{**CHALLENGE, "checks": []}]},
            r"'challenges\[0\]\.checks' must not be empty",
        ),
        (
            {"challenges": [{**CHALLENGE, "solution": []}]},
            r"'challenges\[0\]\.solution' must give the lab lines that make its checks pass",
        ),
        (
            {"challenges": [{**CHALLENGE, "goal": f"Type `{CHALLENGE['solution'][0]}`."}]},
            r"'challenges\[0\]\.goal' gives its solution away",
        ),
        (
            {"challenges": [{**CHALLENGE, "answer": "x"}]},
            r"'challenges\[0\]' has unknown key 'answer'",
        ),
        ({"challenges": {"title": "x"}}, r"'challenges' must be a list"),
        (
            {"challenges": [{**CHALLENGE, "checks": [{"check": "quiz_passed"}], "solution": []}]},
            r"'challenges\[0\]\.checks\[0\]' asks for this lesson's quiz, but the lesson has no quiz",
        ),
        (
            {
                "quiz": QUIZ,
                "challenges": [
                    {
                        **CHALLENGE,
                        "checks": [{"check": "quiz_passed", "with": {"min_correct": 2}}],
                        "solution": [],
                    }
                ],
            },
            r"'challenges\[0\]\.checks\[0\]\.with\.min_correct' is more than the quiz's 1 questions",
        ),
    ],
)
def test_a_mistake_in_checks_or_challenges_names_the_file_and_field(tmp_path, front, message):
    data = {"steps": [step()], **front}
    if data.get("challenges") and isinstance(data["challenges"], list):
        data["challenges"] = [
            {k: v for k, v in c.items() if v is not None} for c in data["challenges"]
        ]
    with pytest.raises(LessonError, match=r"03-x\.md: front matter field " + message):
        load(tmp_path, **data)


def test_a_quiz_challenge_needs_no_command_lines(tmp_path):
    quiz_challenge = {**CHALLENGE, "solution": [], "checks": [{"check": "quiz_passed"}]}
    lesson = load(tmp_path, quiz=QUIZ, challenges=[quiz_challenge])
    assert lesson.challenges[0].solution == ()
