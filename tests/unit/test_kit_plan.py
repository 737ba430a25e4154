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
