"""Sign-up, sign-in and sign-out, and what the header shows for each."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passphrase-9"


def _signup(client, username="alice", password=PASSWORD, **extra):
    data = {"username": username, "password1": password, "password2": password, **extra}
    return client.post("/accounts/signup/", data)


def test_the_signup_page_shows_a_form(client):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    assert b'name="password1"' in response.content


def test_signing_up_creates_the_user_and_signs_them_in(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert get_user_model().objects.filter(username="alice").exists()
    page = client.get("/")
    assert b"Signed in as" in page.content and b"alice" in page.content


def test_signup_goes_back_to_the_page_it_came_from(client):
    response = _signup(client, next="/lessons/")
    assert response["Location"] == "/lessons/"


def test_signup_never_redirects_to_another_site(client):
    response = _signup(client, next="https://evil.example/")
    assert response["Location"] == "/"


def test_mismatched_passwords_are_explained_not_saved(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "bob", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert response.status_code == 200
    assert b"field-errors" in response.content
    assert not get_user_model().objects.filter(username="bob").exists()


def test_a_weak_password_is_refused_with_a_reason(client):
    response = _signup(client, username="carol", password="123")
    assert response.status_code == 200
    assert b"too short" in response.content


def test_signing_in_and_out(client):
    get_user_model().objects.create_user("dave", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "dave", "password": PASSWORD})
    assert response.status_code == 302
    assert b"Signed in as" in client.get("/").content
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert b"Signed in as" not in client.get("/").content


def test_a_wrong_password_gets_a_message(client):
    get_user_model().objects.create_user("erin", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    assert b"form-errors" in response.content


def test_anonymous_visitors_see_sign_in_links_that_come_back(client):
    page = client.get("/lessons/").content.decode()
    assert "/accounts/login/?next=/lessons/" in page
    assert "/accounts/signup/?next=/lessons/" in page


def test_the_sandbox_page_asks_anonymous_visitors_to_sign_in(client):
    response = client.get("/sandbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_signed_in_learner_gets_the_sandbox_page(client):
    user = get_user_model().objects.create_user("frank", password=PASSWORD)
    client.force_login(user)
    response = client.get("/sandbox/")
    assert response.status_code == 200
    assert b"data-sandbox-page" in response.content
