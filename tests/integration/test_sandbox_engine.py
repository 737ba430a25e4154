"""Sandbox services on the real engine: builds, limits, logs, isolation, cleanup.

Two learners, alice and bob, share the engine for the whole module (building
the sample app once each); everything labelled with their sandboxes is
removed at the end.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from engine import client
from sandboxes import naming, services
from sandboxes.models import Sandbox
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

HOSTILE = [
    "../x",
    "UPPER",
    "a;rm -rf /",
    "x" * 300,
    "dl-othersandbox/app",
    "flask-app:../../x",
]


def _engine_snapshot(sandbox) -> tuple:
    """The sandbox's objects (other test runs may share the engine meanwhile)."""
    api = client.api()
    label = sandbox.label_filter()
    return (
        sorted(
            (i["Id"], tuple(i["RepoTags"] or ()))
            for i in api.images(all=True, filters=label)
        ),
        sorted((c["Id"], c["State"]) for c in api.containers(all=True, filters=label)),
        sorted(n["Id"] for n in api.networks(filters=label)),
    )


def _build(sandbox, tag="flask-app", dockerfile=None) -> tuple[list[dict], int]:
    stream = services.build_image(sandbox, tag, dockerfile)
    return list(stream), stream.steps


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "engine") as (_, sandboxes):
        yield sandboxes


@pytest.fixture(scope="module")
def alice(learners):
    return learners[0]


@pytest.fixture(scope="module")
def bob(learners):
    return learners[1]


@pytest.fixture(scope="module")
def builds(alice, bob):
    """The sample app built as flask-app in both sandboxes: (events, steps) each."""
    return _build(alice), _build(bob)


@pytest.fixture(scope="module")
def web(alice, builds):
    """alice's sample app running as `web`, answering."""
    view = services.run_container(alice, "flask-app", name="web")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "Running on" in services.read_logs(alice, "web", tail=50):
            return view
        time.sleep(0.3)
    pytest.fail("the sample app did not start within 20 s")


def test_it_builds_the_sample_app_with_numbered_steps_and_done(alice, builds):
    events, steps = builds[0]
    step_events = [e for e in events if e["kind"] == "step"]
    assert [e["step"] for e in step_events] == list(range(1, steps + 1))
    assert all(e["steps"] == steps for e in step_events)
    assert step_events[0]["text"].startswith("Step 1/")
    assert "FROM" in step_events[0]["text"]
    done = events[-1]
    assert done["kind"] == "done"
    assert done["image"] == "flask-app:latest"
    assert done["id"].startswith("sha256:")
    assert not [e for e in events if e["kind"] == "error"]
    assert f"dl-{alice.sid}" not in json.dumps(events)


def test_two_learners_with_the_same_tag_do_not_collide(alice, bob, builds):
    alice_images = services.list_state(alice)["images"]
    bob_images = services.list_state(bob)["images"]
    assert [i["name"] for i in alice_images] == ["flask-app:latest"]
    assert [i["name"] for i in bob_images] == ["flask-app:latest"]
    assert alice_images[0]["id"] != bob_images[0]["id"]
    assert builds[0][0][-1]["id"] == alice_images[0]["id"]
    labels = services.inspect(alice, "image", "flask-app")["Config"]["Labels"]
    assert labels["org.dockerlab.sandbox"] == alice.sid
    assert labels["org.dockerlab.owner"] == str(alice.user_id)
    assert labels["org.dockerlab.expires"].endswith("Z")
    assert (
        services.inspect(bob, "image", "flask-app")["Config"]["Labels"][
            "org.dockerlab.sandbox"
        ]
        == bob.sid
    )


def test_a_bad_instruction_reports_an_error_event(alice):
    events, _ = _build(alice, "broken", "FROM python:3.12-slim\nFRUM nothing\n")
    assert events[-1]["kind"] == "error"
    assert "unknown instruction" in events[-1]["message"].lower()
    assert "FRUM" in events[-1]["message"].upper()


def test_a_run_that_exits_1_reports_an_error_event_with_its_output(alice):
    dockerfile = "FROM python:3.12-slim\nRUN echo about-to-fail && exit 1\nCMD true\n"
    events, steps = _build(alice, "broken", dockerfile)
    assert steps == 3 + 2  # a LABEL of the stable labels after FROM, the expiry at the end
    assert events[-1]["kind"] == "error"
    assert "non-zero code: 1" in events[-1]["message"]
    assert "about-to-fail" in "".join(
        e.get("text", "") for e in events if e["kind"] == "line"
    )
    assert "broken:latest" not in [
        i["name"] for i in services.list_state(alice)["images"]
    ]


def test_a_build_without_cache_runs_every_step_again(alice, builds):
    # Its own tag: the module's shared flask-app image must keep its id.
    cached = list(services.build_image(alice, "flask-app:cache-test"))
    fresh = list(services.build_image(alice, "flask-app:cache-test", no_cache=True))
    assert cached[-1]["kind"] == fresh[-1]["kind"] == "done"

    def text(events):
        return "".join(e.get("text", "") for e in events if e["kind"] == "line")

    assert "Using cache" in text(cached)
    assert "Using cache" not in text(fresh)


def _dangling_images() -> dict[str, dict]:
    with client.translate_errors():
        found = client.api().images(filters={"dangling": True})
    return {image["Id"]: image.get("Labels") or {} for image in found}


def test_a_multistage_dockerfile_builds_and_its_builder_stage_is_the_sandboxes(alice):
    text = (services.builds.sample_dir() / "Dockerfile.multistage").read_text()
    before = _dangling_images()
    events, steps = _build(alice, "flask-app:slim", text)
    assert events[-1]["kind"] == "done", events[-3:]
    assert [e["step"] for e in events if e["kind"] == "step"] == list(
        range(1, steps + 1)
    )
    # The builder keeps the first stage's image, untagged: it must carry the
    # sandbox's labels, or nothing of the sandbox would ever remove it. Other
    # test processes build at the same time: only this run's deployment's
    # images are looked at, so an unlabelled stage image would leave none.
    left = {
        k: v
        for k, v in _dangling_images().items()
        if k not in before and v.get("org.dockerlab.deployment") == settings.DOCKERLAB_DEPLOYMENT
    }
    assert left, "the builder stage left no image of its own (or none labelled as ours)"
    assert all(labels.get("org.dockerlab.sandbox") == alice.sid for labels in left.values())
    services.prune(alice)
    assert not set(left) & set(_dangling_images())


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_image_name_is_refused_and_touches_nothing(alice, builds, name):
    before = _engine_snapshot(alice)
    for action in (
        lambda: services.build_image(alice, name),
        lambda: services.run_container(alice, name),
        lambda: services.remove_image(alice, name),
        lambda: services.inspect(alice, "image", name),
    ):
        with pytest.raises(services.InvalidName) as info:
            action()
        assert info.value.code == "invalid_name"
    with pytest.raises(services.InvalidName):
        services.run_container(alice, "flask-app", name=name)
    assert _engine_snapshot(alice) == before


def test_an_unknown_container_is_not_in_the_sandbox(alice):
    for action in (
        services.stop_container,
        services.remove_container,
        services.log_target,
        lambda sandbox, name: services.inspect(sandbox, "container", name),
    ):
        with pytest.raises(services.NotInSandbox) as info:
            action(alice, "no-such-box")
        assert info.value.code == "not_found"


def test_run_applies_the_limits(alice, web, settings):
    data = services.inspect(alice, "container", "web")
    host = data["HostConfig"]
    assert host["Memory"] == settings.DOCKERLAB_CONTAINER_MEMORY_MB * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == int(settings.DOCKERLAB_CONTAINER_CPUS * 1e9)
    assert host["PidsLimit"] == settings.DOCKERLAB_CONTAINER_PIDS
    assert host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["CapDrop"] == ["ALL"]
    assert "NET_RAW" not in host["CapAdd"] and "SYS_ADMIN" not in host["CapAdd"]
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {
            "max-size": settings.DOCKERLAB_CONTAINER_LOG_MAX_SIZE,
            "max-file": "2",
        },
    }
    assert host["PortBindings"] == {
        "5002/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]
    }
    assert not host["Binds"] and not data["Mounts"] and not host["Devices"]
    assert list(data["NetworkSettings"]["Networks"]) == ["net"]
    assert host["NetworkMode"] == "net"
    assert web["ports"][0]["container"] == 5002 and web["ports"][0]["host"] > 0
    raw = client.api().inspect_container(f"dl-{alice.sid}-web")
    assert raw["HostConfig"]["NetworkMode"] == f"dl-{alice.sid}-net"
    assert raw["Config"]["Labels"]["org.dockerlab.sandbox"] == alice.sid


def test_inspect_shows_learner_names_and_hides_host_paths(alice, web):
    data = services.inspect(alice, "container", "web")
    assert data["Name"] == "/web"
    assert data["Config"]["Image"] == "flask-app:latest"
    assert "LogPath" not in data and "GraphDriver" not in data
    assert f"dl-{alice.sid}" not in json.dumps(data)
    image = services.inspect(alice, "image", "flask-app:latest")
    assert "flask-app:latest" in image["RepoTags"]
    assert f"dl-{alice.sid}" not in json.dumps(image)


def test_the_container_view_drops_the_prefix(alice, web):
    containers = services.list_state(alice)["containers"]
    view = [c for c in containers if c["name"] == "web"][0]
    assert view["image"] == "flask-app:latest"
    assert view["state"] == "running"
    assert view["id"] == web["id"] and len(view["id"]) == 12
    assert view["created"].endswith("Z")


def test_a_learner_cannot_touch_anothers_container(alice, bob, web):
    for ref in ("web", web["id"], naming.engine_container(alice.sid, "web")[:63]):
        for action in (
            services.stop_container,
            services.remove_container,
            services.log_target,
            lambda sandbox, name: services.inspect(sandbox, "container", name),
        ):
            with pytest.raises((services.NotInSandbox, services.InvalidName)):
                action(bob, ref)
    assert [
        c["state"]
        for c in services.list_state(alice)["containers"]
        if c["name"] == "web"
    ] == ["running"]
    with pytest.raises(services.NotInSandbox):
        services.published_port(bob, "web")


def test_a_learner_cannot_run_remove_or_build_on_anothers_image(alice, bob, builds):
    alice_id = builds[0][0][-1]["id"]
    for ref in (alice_id, alice_id.split(":")[1][:12]):
        with pytest.raises(services.NotInSandbox):
            services.run_container(bob, ref)
        with pytest.raises(services.NotInSandbox):
            services.remove_image(bob, ref)
        with pytest.raises(services.NotInSandbox):
            services.inspect(bob, "image", ref)
    for dockerfile in (
        f"FROM dl-{alice.sid}/flask-app\n",
        f"FROM {alice_id}\n",
        f"FROM python:3.12-slim\nCOPY --from=dl-{alice.sid}/flask-app /app /app\n",
    ):
        with pytest.raises(services.BadRequest):
            services.build_image(bob, "stolen", dockerfile)
    for dockerfile in (
        "FROM python:3.12-slim\nLABEL org.dockerlab.sandbox=x\n",
        f"FROM python:3.12-slim\nONBUILD COPY --from=dl-{alice.sid}/flask-app /a /a\n",
        "RUN echo no base image\n",
    ):
        with pytest.raises(services.BadRequest):
            services.build_image(bob, "forged", dockerfile)
    assert services.inspect(alice, "image", "flask-app")["Id"] == alice_id


def test_only_lesson_images_and_own_images_can_be_run(alice):
    api = client.api()
    api.tag("python:3.12-slim", "dockerlab-test-stray", "latest")
    try:
        with pytest.raises(services.NotInSandbox):
            services.run_container(alice, "dockerlab-test-stray")
    finally:
        api.remove_image("dockerlab-test-stray:latest")
    view = services.run_container(alice, "python:3.12-slim", name="lesson-python")
    assert view["image"] == "python:3.12-slim"
    services.remove_container(alice, "lesson-python")


def test_a_learner_can_build_on_their_own_image(alice, builds):
    events, _ = _build(alice, "on-top", "FROM flask-app\nRUN echo layered\n")
    assert events[-1]["kind"] == "done", events[-3:]


def test_closing_a_build_stops_it_promptly(alice):
    stream = services.build_image(
        alice, "slow", "FROM python:3.12-slim\nRUN echo started && sleep 60\n"
    )
    events = []
    ended = threading.Event()

    def read():
        for event in stream:
            events.append(event)
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 20
    while (
        not any("started" in e.get("text", "") for e in events)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    stream.close()
    assert ended.wait(3), "the build kept streaming after close()"
    assert not [e for e in events if e["kind"] == "done"]


def test_stop_remove_and_rmi_act_on_own_objects(alice, bob, builds):
    services.run_container(bob, "flask-app", name="web")
    stopped = services.stop_container(bob, "web", timeout=1)
    assert stopped["state"] == "exited"
    with pytest.raises(services.SandboxError) as info:
        services.remove_image(bob, "flask-app")
    assert info.value.code == "conflict"
    assert f"dl-{bob.sid}" not in info.value.message
    assert services.remove_container(bob, "web") == {"removed": "web"}
    assert services.list_state(bob)["containers"] == []
    list(services.build_image(bob, "flask-app:copy"))
    result = services.remove_image(bob, "flask-app:copy")
    assert result["untagged"] == ["flask-app:copy"]
    assert [i["name"] for i in services.list_state(bob)["images"]] == [
        "flask-app:latest"
    ]


def test_prune_removes_only_the_sandboxes_stopped_containers(alice, bob, builds):
    services.run_container(alice, "flask-app", name="to-prune")
    services.stop_container(alice, "to-prune", timeout=1)
    services.run_container(bob, "flask-app", name="survivor")
    services.stop_container(bob, "survivor", timeout=1)
    result = services.prune(alice)
    assert result["containers"] >= 1
    assert set(result) == {"containers", "images", "space_reclaimed"}
    names = [c["name"] for c in services.list_state(alice)["containers"]]
    assert "to-prune" not in names and "web" in names
    assert [c["name"] for c in services.list_state(bob)["containers"]] == ["survivor"]
    assert "flask-app:latest" in [
        i["name"] for i in services.list_state(alice)["images"]
    ]
    services.remove_container(bob, "survivor")


def test_the_container_quota_holds(bob, builds, settings):
    services.prune(bob)
    existing = len(services.list_state(bob)["containers"])
    settings.DOCKERLAB_MAX_CONTAINERS = existing + 1
    services.run_container(bob, "flask-app", name="one")
    with pytest.raises(services.QuotaExceeded) as info:
        services.run_container(bob, "flask-app", name="two")
    assert info.value.code == "quota"
    assert "two" not in [c["name"] for c in services.list_state(bob)["containers"]]
    services.remove_container(bob, "one")


def test_a_duplicate_container_name_is_a_conflict(alice, web):
    with pytest.raises(services.SandboxError) as info:
        services.run_container(alice, "flask-app", name="web")
    assert info.value.code == "conflict"
    assert f"dl-{alice.sid}" not in info.value.message


def test_an_oversized_dockerfile_is_refused(alice):
    with pytest.raises(services.BadRequest) as info:
        services.build_image(alice, "big", "FROM python:3.12-slim\n" + "#" * 70_000)
    assert info.value.code == "bad_request"


def test_the_reaper_sweeps_only_this_deployments_objects(settings):
    mine, theirs = naming.new_sid(), naming.new_sid()
    api = client.api()
    made = {}
    for sid, deployment in ((mine, settings.DOCKERLAB_DEPLOYMENT), (theirs, "another-site")):
        labels = {"org.dockerlab.sandbox": sid, "org.dockerlab.deployment": deployment}
        with client.translate_errors():
            made[sid] = api.create_network(f"dl-reaper-{sid}", labels=labels)["Id"]
    try:
        swept = services.reap(only={mine, theirs})
        assert set(swept) == {mine}
        assert swept[mine]["networks"] == 1
        with client.translate_errors():
            assert api.inspect_network(made[theirs])["Labels"]["org.dockerlab.sandbox"] == theirs
    finally:
        services.remove_objects(theirs)
        services.remove_objects(mine)


def test_the_reaper_removes_only_expired_sandboxes(
    alice, bob, builds, django_user_model, django_db_blocker
):
    with django_db_blocker.unblock():
        carol = django_user_model.objects.create_user("carol-engine")
        expired = services.sandbox_for(carol)
    try:
        list(services.build_image(expired, "flask-app"))
        services.run_container(expired, "flask-app", name="web")
        assert services.list_state(expired)["containers"]
        with django_db_blocker.unblock():
            Sandbox.objects.filter(pk=expired.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )
            swept = services.reap(only={alice.sid, bob.sid, expired.sid})
        assert set(swept) == {expired.sid}
        assert swept[expired.sid]["containers"] == 1
        assert swept[expired.sid]["images"] >= 1
        assert swept[expired.sid]["networks"] == 1
        assert services.list_state(expired) == {"images": [], "containers": [], "volumes": []}
        assert services.list_state(alice)["images"]
        assert services.list_state(bob)["images"]
    finally:
        services.remove_objects(expired.sid)
        with django_db_blocker.unblock():
            carol.delete()


def test_environment_variables_reach_the_container(alice, builds):
    services.run_container(
        alice, "flask-app", name="with-env", env={"MYSQL_HOST": "db", "GREETING": 42}
    )
    try:
        env = services.inspect(alice, "container", "with-env")["Config"]["Env"]
        assert "MYSQL_HOST=db" in env and "GREETING=42" in env
    finally:
        services.remove_container(alice, "with-env")


@pytest.mark.parametrize(
    "env",
    [
        {"BAD NAME": "x"},
        {"1X": "x"},
        {"X": ["list"]},
        {"X": "a" * 5000},
        {f"V{i}": "x" for i in range(40)},
        "X=1",
    ],
)
def test_bad_environment_variables_are_refused_before_anything_runs(alice, env):
    before = _engine_snapshot(alice)
    with pytest.raises(services.BadRequest):
        services.run_container(alice, "flask-app", name="bad-env", env=env)
    assert _engine_snapshot(alice) == before


def test_the_image_quota_holds(bob, builds, settings):
    tags = len(services.list_state(bob)["images"])
    settings.DOCKERLAB_MAX_IMAGES = tags
    with pytest.raises(services.QuotaExceeded):
        services.build_image(bob, "one-more")
    # Rebuilding an existing tag replaces it, so it is always allowed.
    assert list(services.build_image(bob, "flask-app"))[-1]["kind"] == "done"


def test_two_removals_of_one_container_at_once_both_end_well(alice, builds):
    services.run_container(alice, "flask-app", name="double-click")
    outcomes = []

    def remove():
        try:
            outcomes.append(services.remove_container(alice, "double-click"))
        except services.NotInSandbox:
            outcomes.append("already gone")

    threads = [threading.Thread(target=remove) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2
    assert {"removed": "double-click"} in outcomes
    names = [c["name"] for c in services.list_state(alice)["containers"]]
    assert "double-click" not in names


def test_lesson_images_can_be_inspected_too(alice):
    data = services.inspect(alice, "image", "python:3.12-slim")
    assert data["Id"].startswith("sha256:")
    assert "GraphDriver" not in data


def test_the_reap_command_removes_one_sandbox_on_request(
    django_user_model, django_db_blocker, builds
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with django_db_blocker.unblock():
        dave = django_user_model.objects.create_user("dave-engine")
        sandbox = services.sandbox_for(dave)
    try:
        list(services.build_image(sandbox, "flask-app"))
        services.run_container(sandbox, "flask-app", name="web")
        out = StringIO()
        call_command("reap", "--sandbox", sandbox.sid, stdout=out)
        assert f"{sandbox.sid}: 1 containers" in out.getvalue()
        assert services.list_state(sandbox) == {"images": [], "containers": [], "volumes": []}
        with pytest.raises(CommandError):
            call_command("reap", "--sandbox", "../../etc", stdout=StringIO())
    finally:
        services.remove_objects(sandbox.sid)
        with django_db_blocker.unblock():
            dave.delete()


def test_an_admin_can_clear_a_sandboxes_engine_objects(admin_client, django_user_model):
    erin = django_user_model.objects.create_user("erin-engine")
    sandbox = services.sandbox_for(erin)
    try:
        services.ensure_network(sandbox)
        response = admin_client.post(
            "/admin/sandboxes/sandbox/",
            {"action": "clear_engine_objects", "_selected_action": [sandbox.pk]},
            follow=True,
        )
        assert response.status_code == 200
        shown = [str(message) for message in response.context["messages"]]
        assert shown == [f"{sandbox.sid}: 0 containers, 0 images, 0 volumes, 1 networks removed."]
        assert not client.api().networks(filters=sandbox.label_filter())
    finally:
        services.remove_objects(sandbox.sid)
