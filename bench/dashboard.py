#!/usr/bin/env python3
"""dockerlab benchmark: a trainer's class dashboard, served and live.

- dashboard_30x_all_steps_ms: server time (median of the runs) to serve the
  dashboard of a class of 30 learners with every lesson and an exercise
  assigned (every checked step, challenge and quiz of the course), each
  learner with progress on every item, quiz answers and a lab history;
  measured in-process through Django's request handling (middleware, view,
  queries, template), no network. Target: at most 200 ms.
- dashboard_3x_all_steps_ms, and the ratio of 30 to 3 learners (the cost
  that grows with the class).
- dashboard_30x_queries / dashboard_3x_queries: SQL queries per request
  (must not grow with the number of learners).
- dashboard_live_update_ms: from a learner's progress being recorded (in a
  worker thread, as the check view does) to the frame arriving at an open
  dashboard socket (median of 20); target: well under a second.

Prints a table and merges these figures into bench/results.json (the other
figures there are left as they are).
Usage: .venv/bin/python bench/dashboard.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import threading
import time

import common
from common import print_table, save_results

WORKDIR = common.django_setup("dockerlab-bench-dashboard-", f"bench-{os.getpid()}")

from asgiref.sync import sync_to_async  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from classrooms import items, roles  # noqa: E402
from classrooms.models import Assignment, Classroom, Exercise, Membership  # noqa: E402
from classrooms.routing import websocket_urlpatterns  # noqa: E402
from lessons import loader, progress  # noqa: E402
from lessons.models import LabAction, Progress, QuizAnswer  # noqa: E402

TARGETS = {
    "dashboard_30x_all_steps_ms": ("<=", 200.0),
    "dashboard_live_update_ms": ("<=", 1000.0),
}
STATES = ["done", "failing", "not_started"]


def make_class(size: int) -> Classroom:
    users = get_user_model()
    trainer = users.objects.create_user(f"trainer{size}", password="x")
    roles.make_trainer(trainer)
    room = Classroom.objects.create(
        name=f"{size} learners", owner=trainer, ends_on=timezone.localdate()
    )
    for lesson in loader.all_lessons():
        Assignment.objects.create(classroom=room, kind="lesson", lesson=lesson.slug)
    exercise = Exercise.objects.create(
        owner=trainer, title="Run it", instructions="Run it.",
        checks=[{"check": "container_running", "with": {"name": "web"}}],
    )
    Assignment.objects.create(
        classroom=room, kind="exercise", exercise=exercise,
        due_at=timezone.now() - timezone.timedelta(days=1),
    )
    columns = [item for lesson in loader.all_lessons() for item in items.lesson_items(lesson)]
    rng = random.Random(size)
    now = timezone.now()
    for i in range(size):
        learner = users.objects.create_user(f"c{size}-learner{i:02d}", password="x")
        Membership.objects.create(classroom=room, user=learner)
        rows = [
            Progress(user=learner, lesson=item.lesson, kind=item.kind, number=item.number,
                     state=rng.choice(STATES), reason="web is not running.", attempts=3,
                     checked_at=now, results=[{"check": "x", "passed": False}] * 2)
            for item in columns if item.kind != items.QUIZ
        ]
        rows.append(Progress(user=learner, lesson="", kind="exercise", number=exercise.pk,
                             state="failing", reason="No web.", attempts=1, checked_at=now))
        Progress.objects.bulk_create(rows)
        QuizAnswer.objects.bulk_create(
            QuizAnswer(user=learner, lesson=lesson.slug, question=q, choice=0,
                       correct=rng.random() < 0.7, first_correct=False)
            for lesson in loader.all_lessons() for q in range(1, len(lesson.quiz) + 1)
        )
        LabAction.objects.bulk_create(
            LabAction(user=learner, sandbox="0123456789", action="state", command="docker ps",
                      ok=True)
            for _ in range(100)
        )
    return room


def time_dashboard(room: Classroom, runs: int) -> tuple[float, int, int]:
    """(median ms, queries per request, columns) for the class's dashboard."""
    client = Client()
    client.force_login(room.owner)
    url = f"/classes/{room.pk}/dashboard/"
    for _ in range(3):  # warm: templates, lesson registry, session
        assert client.get(url, HTTP_HOST="127.0.0.1").status_code == 200
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, HTTP_HOST="127.0.0.1")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_HOST="127.0.0.1")
    columns = response.content.count(b'scope="col" class="item')
    return statistics.median(times), len(captured), columns


async def live_latency(room: Classroom, rounds: int) -> float:
    """Median ms from recording a quiz answer (in a worker thread) to the frame."""
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/class/{room.pk}/"
    )
    communicator.scope["user"] = room.owner
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    learner = await sync_to_async(lambda: room.memberships.first().user)()
    delays = []
    for i in range(rounds):
        started = time.perf_counter()
        await sync_to_async(progress.record_quiz, thread_sensitive=False)(
            learner, "containers", 1, i % 2
        )
        frame = await communicator.receive_json_from(timeout=5)
        delays.append((time.perf_counter() - started) * 1000)
        assert frame["type"] == "progress" and frame["learner"] == learner.pk
    await communicator.disconnect()
    return statistics.median(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke check)")
    args = parser.parse_args()
    runs = 5 if args.quick else 30
    try:
        call_command("migrate", "--noinput", verbosity=0)
        print("==> a class of 3 and a class of 30, every lesson assigned")
        small, large = make_class(3), make_class(30)
        print(f"==> serving each dashboard {runs} times")
        small_ms, small_queries, columns = time_dashboard(small, runs)
        large_ms, large_queries, _ = time_dashboard(large, runs)
        print("==> live updates: progress recorded -> frame on an open dashboard")
        live_ms = asyncio.run(live_latency(large, 5 if args.quick else 20))
        results = {
            "dashboard_30x_all_steps_ms": round(large_ms, 2),
            "dashboard_3x_all_steps_ms": round(small_ms, 2),
            "dashboard_30_vs_3_ratio": round(large_ms / small_ms, 2),
            "dashboard_30x_queries": large_queries,
            "dashboard_3x_queries": small_queries,
            "dashboard_columns": columns,
            "dashboard_live_update_ms": round(live_ms, 2),
        }
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    print_table(results, TARGETS)
    print(f"\nmerged into {save_results(results).relative_to(common.ROOT)}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
