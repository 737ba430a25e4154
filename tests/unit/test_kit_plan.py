"""The kit decides which lesson images to pull or build, and touches nothing else."""

import pytest

from engine import kit

IMAGES = {"python": "python:3.12-slim", "mariadb": "mariadb:11", "registry": "registry:2"}


def test_it_makes_only_the_missing_images():
    states = {"python": kit.PRESENT, "mariadb": kit.MISSING, "registry": kit.KIT_BUILT}
    plan = kit.make_plan(IMAGES, states)
    assert plan.to_make == ["mariadb"]
    assert plan.missing == ["mariadb"]


def test_it_has_nothing_to_do_when_every_image_is_present():
    states = {"python": kit.KIT_BUILT, "mariadb": kit.PRESENT, "registry": kit.KIT_BUILT}
    assert kit.make_plan(IMAGES, states).to_make == []


def test_a_rebuild_redoes_kit_builds_but_never_other_images():
    states = {"python": kit.KIT_BUILT, "mariadb": kit.PRESENT, "registry": kit.MISSING}
    assert kit.make_plan(IMAGES, states, rebuild=True).to_make == ["python", "registry"]


def test_it_can_be_narrowed_to_some_roles():
    states = dict.fromkeys(IMAGES, kit.MISSING)
    assert kit.make_plan(IMAGES, states, roles=["registry"]).to_make == ["registry"]


def test_it_rejects_a_role_it_does_not_know():
    states = dict.fromkeys(IMAGES, kit.MISSING)
    with pytest.raises(kit.KitError, match="Unknown image role.*nginx"):
        kit.make_plan(IMAGES, states, roles=["nginx"])


def test_it_refuses_a_configured_role_without_a_recipe():
    images = {**IMAGES, "redis": "redis:7"}
    states = dict.fromkeys(images, kit.MISSING)
    with pytest.raises(kit.KitError, match="no recipe.*redis"):
        kit.make_plan(images, states)


def test_every_role_has_a_dockerfile_in_the_kit():
    for role in kit.DESCRIPTIONS:
        assert (kit.KIT_ROOT / role / "Dockerfile").is_file()


def test_progress_lines_carry_the_elapsed_seconds():
    lines = []
    kit.Progress(lines.append)("building python")
    assert lines[0].endswith("s] building python")
    assert lines[0].startswith("[")


def test_the_swarm_node_image_is_kept_only_while_orchestration_runs_its_own_swarm(settings):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = ""
    assert kit.kit_images()["swarmnode"] == kit.local_image_name("swarmnode")
    settings.DOCKERLAB_SWARM_MANAGER_URL = "tcp://swarm.example:2376"
    assert "swarmnode" not in kit.kit_images()
    settings.DOCKERLAB_SWARM = False
    settings.DOCKERLAB_SWARM_MANAGER_URL = ""
    assert "swarmnode" not in kit.kit_images()


def test_the_node_image_tag_follows_the_recipe(tmp_path, monkeypatch):
    folder = tmp_path / "swarmnode"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM base\n")
    monkeypatch.setattr(kit, "KIT_ROOT", tmp_path)
    first = kit.local_image_name("swarmnode")
    assert first.startswith("dockerlab/swarmnode:trixie-")
    assert kit.local_image_name("swarmnode") == first
    (folder / "entrypoint.sh").write_text("#!/bin/sh\n")
    second = kit.local_image_name("swarmnode")
    assert second != first
    (folder / "entrypoint.sh").chmod(0o755)
    assert kit.local_image_name("swarmnode") != second


def test_the_projects_own_images_are_never_pulled_and_build_on_their_own_suite(
    settings, monkeypatch
):
    settings.DOCKERLAB_KIT_SUITE = "bookworm"
    images = {"python": "python:3.12-slim", "swarmnode": "dockerlab/swarmnode:trixie-x"}
    plan = kit.make_plan(images, dict.fromkeys(images, kit.MISSING))
    calls = []
    monkeypatch.setattr(kit, "current_plan", lambda *args, **kwargs: plan)
    monkeypatch.setattr(kit, "try_pull", lambda name, step: calls.append(("pull", name)))
    monkeypatch.setattr(
        kit, "ensure_base", lambda step, apt_dir, suite: calls.append(("base", suite)) or suite
    )
    monkeypatch.setattr(
        kit, "build_role",
        lambda role, name, base, step, verbose: calls.append(("build", role, base)),
    )
    monkeypatch.setattr(kit, "remove_superseded", lambda role, keep, step: None)
    kit.make_images(lambda line: None)
    assert calls == [
        ("pull", "python:3.12-slim"),
        ("base", "bookworm"),
        ("build", "python", "bookworm"),
        ("base", "trixie"),
        ("build", "swarmnode", "trixie"),
    ]
