"""Who may see what: everything outside the caller's reach is a 404, as on the rest
of the site; ids changed in URLs and websocket paths find nothing."""

from __future__ import annotations

import json

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from classrooms.consumers import CLOSE_AUTH_REQUIRED, CLOSE_NOT_FOUND
from classrooms.models import Assignment, Classroom, Exercise, Membership
from classrooms.routing import websocket_urlpatterns
from tests.unit.classrooms_helpers import (
    assign_exercise,
    assign_lesson,
    classroom,
    editor_post,
    exercise,
    member,
    user,
)


@pytest.fixture
def world(db):
    """Two trainers with a class each; leo in tina's class, mia in tom's."""
    tina, tom = user("tina", trainer=True), user("tom", trainer=True)
    leo, mia = user("leo"), user("mia")
    mine, theirs = classroom(tina, "Tina's"), classroom(tom, "Tom's")
    member(mine, leo)
    member(theirs, mia)
    my_exercise, their_exercise = exercise(tina), exercise(tom)
    return {
        "tina": tina, "tom": tom, "leo": leo, "mia": mia,
        "mine": mine, "theirs": theirs,
        "my_exercise": my_exercise, "their_exercise": their_exercise,
        "my_assignment": assign_exercise(mine, my_exercise),
        "their_assignment": assign_exercise(theirs, their_exercise),
    }


def _trainer_pages(room_id: int, learner_id: int, assignment_id: int) -> list[str]:
    return [
        f"/classes/{room_id}/",
        f"/classes/{room_id}/dashboard/",
        f"/classes/{room_id}/dashboard.csv",
        f"/classes/{room_id}/learners/{learner_id}/",
    ]


def _trainer_posts(room_id: int, learner_id: int, assignment_id: int) -> list[tuple[str, dict]]:
    return [
        (f"/classes/{room_id}/edit/", {"name": "Mine now", "ends_on": "2030-01-01"}),
        (f"/classes/{room_id}/code/", {}),
        (f"/classes/{room_id}/delete/", {}),
        (f"/classes/{room_id}/co-owners/", {"username": "tina"}),
        (f"/classes/{room_id}/assignments/", {"item": "lesson:networking"}),
        (f"/classes/{room_id}/assignments/{assignment_id}/remove/", {}),
        (f"/classes/{room_id}/learners/{learner_id}/remove/", {}),
    ]


def test_a_trainer_gets_404_for_every_page_of_a_class_they_do_not_run(client, world):
    client.force_login(world["tina"])
    theirs, mia = world["theirs"], world["mia"]
    for url in _trainer_pages(theirs.pk, mia.pk, world["their_assignment"].pk):
        assert client.get(url).status_code == 404, url
    for url, data in _trainer_posts(theirs.pk, mia.pk, world["their_assignment"].pk):
        assert client.post(url, data).status_code == 404, url
    # Nothing of Tom's class changed.
    theirs.refresh_from_db()
    assert theirs.name == "Tom's" and Classroom.objects.filter(pk=theirs.pk).exists()
    assert Membership.objects.filter(classroom=theirs, user=mia).exists()
    assert Assignment.objects.filter(pk=world["their_assignment"].pk).exists()
    assert not theirs.co_owners.exists()


def test_a_trainer_cannot_reach_a_learner_of_another_class_through_their_own(client, world):
    client.force_login(world["tina"])
    mine = world["mine"]
    assert client.get(f"/classes/{mine.pk}/learners/{world['leo'].pk}/").status_code == 200
    assert client.get(f"/classes/{mine.pk}/learners/{world['mia'].pk}/").status_code == 404
    assert client.get(f"/classes/{mine.pk}/learners/999999/").status_code == 404
    assert client.get("/classes/999999/dashboard/").status_code == 404


def test_a_trainer_cannot_open_edit_delete_or_assign_another_trainers_exercise(client, world):
    client.force_login(world["tina"])
    theirs = world["their_exercise"]
    assert client.get(f"/classes/exercises/{theirs.pk}/").status_code == 404
    assert client.post(f"/classes/exercises/{theirs.pk}/", editor_post()).status_code == 404
    assert client.post(f"/classes/exercises/{theirs.pk}/delete/").status_code == 404
    response = client.post(
        f"/classes/{world['mine'].pk}/assignments/", {"item": f"exercise:{theirs.pk}"}
    )
    assert response.status_code == 400  # not one of her choices
    assert Exercise.objects.filter(pk=theirs.pk, title="Run the app").exists()
    assert not Assignment.objects.filter(classroom=world["mine"], exercise=theirs).exists()


def test_a_learner_gets_404_for_every_trainer_page_even_of_their_own_class(client, world):
    client.force_login(world["leo"])
    mine = world["mine"]
    for url in _trainer_pages(mine.pk, world["leo"].pk, world["my_assignment"].pk):
        assert client.get(url).status_code == 404, url
    for url, data in _trainer_posts(mine.pk, world["leo"].pk, world["my_assignment"].pk):
        assert client.post(url, data).status_code == 404, url
    assert client.get("/classes/exercises/new/").status_code == 404
    assert client.post("/classes/new/", {"name": "x", "ends_on": "2030-01-01"}).status_code == 404
    response = client.post(
        "/classes/exercises/try/", json.dumps({"checks": []}), content_type="application/json"
    )
    assert response.status_code == 404


def test_a_learner_cannot_see_another_learners_detail_page(client, world):
    client.force_login(world["leo"])
    for room in (world["mine"], world["theirs"]):
        for learner in (world["leo"], world["mia"]):
            assert client.get(f"/classes/{room.pk}/learners/{learner.pk}/").status_code == 404


def test_a_learner_opens_only_exercises_assigned_in_their_classes(client, world):
    client.force_login(world["leo"])
    mine, theirs = world["mine"], world["theirs"]
    ok = f"/classes/{mine.pk}/assignments/{world['my_assignment'].pk}/"
    assert client.get(ok).status_code == 200
    for url in [
        f"/classes/{theirs.pk}/assignments/{world['their_assignment'].pk}/",
        # Their assignment through my class id, and mine through theirs.
        f"/classes/{mine.pk}/assignments/{world['their_assignment'].pk}/",
        f"/classes/{theirs.pk}/assignments/{world['my_assignment'].pk}/",
        f"/classes/{mine.pk}/assignments/999999/",
    ]:
        assert client.get(url).status_code == 404, url
        for action in ("check", "hint", "solution"):
            assert client.post(url + f"{action}/").status_code == 404, (url, action)


def test_a_lesson_assignment_has_no_exercise_page(client, world):
    lesson = assign_lesson(world["mine"], "networking")
    client.force_login(world["leo"])
    assert client.get(f"/classes/{world['mine'].pk}/assignments/{lesson.pk}/").status_code == 404


def test_owners_preview_an_exercise_but_cannot_check_it_as_a_learner(client, world):
    client.force_login(world["tina"])
    url = f"/classes/{world['mine'].pk}/assignments/{world['my_assignment'].pk}/"
    page = client.get(url)
    assert page.status_code == 200 and "A preview" in page.content.decode()
    response = client.post(url + "hint/", HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "preview"
    client.force_login(world["tom"])
    assert client.get(url).status_code == 404


def test_a_co_owner_runs_the_class_but_only_the_owner_manages_co_owners(client, world):
    mine = world["mine"]
    mine.co_owners.add(world["tom"])
    client.force_login(world["tom"])
    assert client.get(f"/classes/{mine.pk}/dashboard/").status_code == 200
    assert client.get(f"/classes/{mine.pk}/learners/{world['leo'].pk}/").status_code == 200
    assert client.post(f"/classes/{mine.pk}/co-owners/", {"username": "tom"}).status_code == 404
    assert client.post(f"/classes/{mine.pk}/delete/").status_code == 404
    client.force_login(world["tina"])
    client.post(f"/classes/{mine.pk}/co-owners/{world['tom'].pk}/remove/")
    client.force_login(world["tom"])
    assert client.get(f"/classes/{mine.pk}/dashboard/").status_code == 404


def test_a_co_owner_must_be_a_trainer(client, world):
    client.force_login(world["tina"])
    response = client.post(f"/classes/{world['mine'].pk}/co-owners/", {"username": "leo"})
    assert response.status_code == 400
    assert "There is no trainer called &#x27;leo&#x27;" in response.content.decode()
    assert not world["mine"].co_owners.exists()


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    for url in ["/classes/", f"/classes/{world['mine'].pk}/dashboard/", "/classes/join/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- the dashboard socket ------------------------------------------------------------


async def _socket(user, classroom_id) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/class/{classroom_id}/"
    )
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    return communicator, connected


async def _refused_with(user, classroom_id, close_code: int, code: str) -> None:
    communicator, connected = await _socket(user, classroom_id)
    assert connected
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == code
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": close_code}
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_dashboard_socket_is_for_the_class_owners_only(world):
    mine, theirs = world["mine"], world["theirs"]
    communicator, connected = await _socket(world["tina"], mine.pk)
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "hello", "classroom": mine.pk
    }
    await communicator.disconnect()
    await _refused_with(world["tina"], theirs.pk, CLOSE_NOT_FOUND, "not_found")
    await _refused_with(world["tina"], 999999, CLOSE_NOT_FOUND, "not_found")
    await _refused_with(world["leo"], mine.pk, CLOSE_NOT_FOUND, "not_found")
    await _refused_with(AnonymousUser(), mine.pk, CLOSE_AUTH_REQUIRED, "auth_required")


@pytest.mark.django_db(transaction=True)
async def test_a_co_owner_removed_while_watching_is_closed_at_once(world):
    from asgiref.sync import sync_to_async

    from classrooms import live

    mine = world["mine"]
    await sync_to_async(mine.co_owners.add)(world["tom"])
    communicator, connected = await _socket(world["tom"], mine.pk)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await sync_to_async(mine.co_owners.remove)(world["tom"])
    await sync_to_async(live.owners_changed)(mine)
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["code"] == "not_found"
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close", "code": CLOSE_NOT_FOUND
    }
    await communicator.disconnect()
