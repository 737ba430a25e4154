"""Typed environment readers used by the settings."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dockerlab import env


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env.env_bool("X_FLAG", True) is False


def test_it_names_the_variable_on_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.env_bool("X_FLAG", False)


def test_it_rejects_a_non_integer_and_one_below_the_minimum(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be an integer"):
        env.env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("X_NUM", 5, minimum=1)


def test_it_splits_lists_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("X_LIST", "a, b,,c ")
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]


def test_it_generates_a_secret_key_once_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.delenv("X_SECRET", raising=False)
    path = tmp_path / "sub" / "secret_key"
    first = env.secret_key("X_SECRET", path)
    assert len(first) >= 50
    assert path.stat().st_mode & 0o777 == 0o600
    assert env.secret_key("X_SECRET", path) == first
    monkeypatch.setenv("X_SECRET", "from-env")
    assert env.secret_key("X_SECRET", path) == "from-env"


def test_the_deployment_id_is_generated_once_or_taken_from_the_environment(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("X_DEPLOYMENT", raising=False)
    path = tmp_path / "deployment_id"
    first = env.deployment_id("X_DEPLOYMENT", path)
    assert len(first) == 12 and first == first.lower()
    assert env.deployment_id("X_DEPLOYMENT", path) == first
    monkeypatch.setenv("X_DEPLOYMENT", "classroom-2")
    assert env.deployment_id("X_DEPLOYMENT", path) == "classroom-2"


@pytest.mark.parametrize("bad", ["", "Upper", "a=b", "-lead", "x" * 41, "a b"])
def test_a_bad_deployment_id_names_the_variable(monkeypatch, tmp_path, bad):
    monkeypatch.setenv("X_DEPLOYMENT", bad)
    with pytest.raises(ImproperlyConfigured, match="X_DEPLOYMENT"):
        env.deployment_id("X_DEPLOYMENT", tmp_path / "deployment_id")


def test_an_ipv4_setting_takes_one_address_and_names_the_variable_otherwise(monkeypatch):
    monkeypatch.delenv("X_ADDR", raising=False)
    assert env.env_ipv4("X_ADDR", "127.0.0.1") == "127.0.0.1"
    monkeypatch.setenv("X_ADDR", " 10.0.0.7 ")
    assert env.env_ipv4("X_ADDR", "127.0.0.1") == "10.0.0.7"
    for bad in ("localhost", "::1", "0.0.0.0", "127.0.0.1:5000"):
        monkeypatch.setenv("X_ADDR", bad)
        with pytest.raises(ImproperlyConfigured, match="X_ADDR"):
            env.env_ipv4("X_ADDR", "127.0.0.1")


def test_it_reads_a_choice_and_names_the_variable_on_another(monkeypatch):
    monkeypatch.setenv("X_MODE", " Code ")
    assert env.env_choice("X_MODE", "open", ("open", "code", "closed")) == "code"
    monkeypatch.setenv("X_MODE", "sometimes")
    with pytest.raises(ImproperlyConfigured, match="X_MODE must be one of open, code, closed"):
        env.env_choice("X_MODE", "open", ("open", "code", "closed"))


def test_the_proxy_ssl_header_becomes_djangos_setting(monkeypatch):
    assert env.proxy_ssl_header("X_PROXY", "") is None
    monkeypatch.setenv("X_PROXY", "X-Forwarded-Proto")
    assert env.proxy_ssl_header("X_PROXY", "") == ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.setenv("X_PROXY", "X-Forwarded-Proto: https")
    with pytest.raises(ImproperlyConfigured, match="X_PROXY"):
        env.proxy_ssl_header("X_PROXY", "")


def test_security_settings_are_off_for_a_loopback_run_and_on_behind_tls(monkeypatch):
    import importlib

    import dockerlab.settings as site

    try:
        for name in ("DOCKERLAB_TLS", "DOCKERLAB_HSTS_SECONDS", "DOCKERLAB_PROXY_SSL_HEADER"):
            monkeypatch.delenv(name, raising=False)
        plain = importlib.reload(site)
        assert not (plain.SESSION_COOKIE_SECURE or plain.CSRF_COOKIE_SECURE)
        assert not plain.SECURE_SSL_REDIRECT and plain.SECURE_HSTS_SECONDS == 0
        monkeypatch.setenv("DOCKERLAB_TLS", "1")
        monkeypatch.setenv("DOCKERLAB_HSTS_SECONDS", "31536000")
        monkeypatch.setenv("DOCKERLAB_PROXY_SSL_HEADER", "X-Forwarded-Proto")
        tls = importlib.reload(site)
        assert tls.SESSION_COOKIE_SECURE and tls.CSRF_COOKIE_SECURE and tls.SECURE_SSL_REDIRECT
        assert tls.SECURE_HSTS_SECONDS == 31536000
        assert tls.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_a_choice_is_one_of_its_values(monkeypatch):
    monkeypatch.setenv("X_CHOICE", " None ")
    assert env.env_choice("X_CHOICE", "default", ("none", "default")) == "none"
    monkeypatch.setenv("X_CHOICE", "host")
    with pytest.raises(ImproperlyConfigured, match="X_CHOICE must be one of none, default"):
        env.env_choice("X_CHOICE", "default", ("none", "default"))
