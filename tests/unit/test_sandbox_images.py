"""The app's record of a sandbox's image ids, and its admin pages."""

from __future__ import annotations

import pytest

from sandboxes.models import Sandbox, SandboxImage
from sandboxes.services import images

ID_A = "sha256:" + "a" * 64
ID_B = "sha256:" + "b" * 64


@pytest.fixture
def sandbox(django_user_model):
    return Sandbox.objects.create(user=django_user_model.objects.create_user("alice"))


@pytest.mark.django_db
def test_recorded_ids_are_the_sandboxs_own_and_recording_twice_is_harmless(
    sandbox, django_user_model
):
    other = Sandbox.objects.create(user=django_user_model.objects.create_user("bob"))
    images.record_image(sandbox, ID_A, SandboxImage.BUILT)
    images.record_image(sandbox, ID_A, SandboxImage.BUILT)
    images.record_image(sandbox, ID_A, SandboxImage.PUSHED)
    images.record_image(other, ID_B, SandboxImage.BUILT)
    assert images.recorded_ids(sandbox) == {ID_A}
    assert images.recorded_ids(other) == {ID_B}
    assert SandboxImage.objects.filter(sandbox=sandbox).count() == 2


@pytest.mark.django_db
def test_only_full_image_ids_are_recorded(sandbox):
    for bad in ("sha256:abc", "a" * 64, "sha256:" + "A" * 64, None):
        with pytest.raises(ValueError):
            images.record_image(sandbox, bad, SandboxImage.PULLED)
    assert not SandboxImage.objects.exists()


@pytest.mark.django_db
def test_a_build_whose_record_fails_is_not_failed_by_it(sandbox, caplog):
    images.record_built(sandbox, None)
    assert "could not record built image" in caplog.text
    images.record_built(sandbox, ID_A)
    assert images.recorded_ids(sandbox) == {ID_A}


@pytest.mark.django_db
def test_the_admin_shows_the_records_and_offers_no_way_to_vouch_for_an_image(
    admin_client, sandbox
):
    images.record_image(sandbox, ID_A, SandboxImage.PUSHED)
    listing = admin_client.get("/admin/sandboxes/sandboximage/")
    assert listing.status_code == 200
    assert ID_A in listing.content.decode()
    assert admin_client.get("/admin/sandboxes/sandboximage/add/").status_code == 403
    page = admin_client.get(f"/admin/sandboxes/sandbox/{sandbox.pk}/change/")
    assert page.status_code == 200 and ID_A in page.content.decode()
