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


# --- the full python image, built on the kit's own python image --------------

WITH_BUILD = {**IMAGES, "python-build": "python:3.12"}


def test_the_full_python_image_is_a_configured_role_with_a_recipe(settings):
    assert settings.DOCKERLAB_IMAGES["python-build"] == "python:3.12"
    assert kit.BUILT_ON["python-build"] == "python"
    recipe = (kit.KIT_ROOT / "python-build" / "Dockerfile").read_text()
    assert "FROM ${BASE}" in recipe and "gcc" in recipe and "python3-dev" in recipe


def test_a_remade_python_image_remakes_the_full_one_built_on_it():
    states = dict.fromkeys(WITH_BUILD, kit.KIT_BUILT)
    plan = kit.make_plan(WITH_BUILD, states, rebuild=True, roles=["python"])
    assert plan.to_make == ["python", "python-build"]


def test_a_full_image_someone_provided_is_left_alone_when_python_is_remade():
    states = {**dict.fromkeys(WITH_BUILD, kit.KIT_BUILT), "python-build": kit.PRESENT}
    plan = kit.make_plan(WITH_BUILD, states, rebuild=True)
    assert plan.to_make == ["python", "mariadb", "registry"]


def test_making_the_full_image_alone_makes_a_missing_python_image_first():
    states = {**dict.fromkeys(WITH_BUILD, kit.PRESENT), "python": kit.MISSING,
              "python-build": kit.MISSING}
    plan = kit.make_plan(WITH_BUILD, states, roles=["python-build"])
    assert plan.to_make == ["python", "python-build"]


def _make(monkeypatch, states, settings):
    """make_images with the engine stood in for: (calls, final plan)."""
    settings.DOCKERLAB_IMAGES = dict(WITH_BUILD)
    settings.DOCKERLAB_SWARM = False
    calls = []
    monkeypatch.setattr(kit, "image_state", lambda name, timeout=None: states[name])
    monkeypatch.setattr(kit, "try_pull", lambda name, step: calls.append(("pull", name)) and False)
    monkeypatch.setattr(
        kit, "ensure_base", lambda step, apt_dir, suite: calls.append(("base", suite)) or "debian"
    )

    def build(role, name, base, step, verbose):
        calls.append(("build", role, base))
        states[name] = kit.KIT_BUILT

    monkeypatch.setattr(kit, "build_role", build)
    return calls


def test_the_full_image_is_built_from_the_kits_python_image(monkeypatch, settings):
    states = {"python:3.12-slim": kit.MISSING, "mariadb:11": kit.PRESENT,
              "registry:2": kit.PRESENT, "python:3.12": kit.MISSING}
    calls = _make(monkeypatch, states, settings)
    kit.make_images(lambda line: None)
    assert calls == [
        ("pull", "python:3.12-slim"),
        ("base", "bookworm"),
        ("build", "python", "debian"),
        ("pull", "python:3.12"),
        ("build", "python-build", "python:3.12-slim"),
    ]


def test_the_full_image_is_not_built_on_a_python_image_the_kit_did_not_make(
    monkeypatch, settings
):
    states = {"python:3.12-slim": kit.PRESENT, "mariadb:11": kit.PRESENT,
              "registry:2": kit.PRESENT, "python:3.12": kit.MISSING}
    calls = _make(monkeypatch, states, settings)
    with pytest.raises(kit.KitError, match="was not built by the kit"):
        kit.make_images(lambda line: None)
    assert not [call for call in calls if call[0] == "build"]
