"""DOCKERLAB_ENGINES: read into a pool of engines, or refused in words."""

import pytest

from engine import pool


def test_the_pool_setting_is_read_or_refused_in_words(settings):
    settings.DOCKERLAB_ENGINES = "a=unix:///x.sock, b=tcp://10.0.0.5:2376 c=tcp://10.0.0.6:2376=10.0.1.6"
    engines = pool.engines()
    assert [(e.name, e.publish_host) for e in engines] == [
        ("a", "127.0.0.1"), ("b", "10.0.0.5"), ("c", "10.0.1.6")
    ]
    for bad, words in (
        ("a=unix:///x a=unix:///y", "given twice"),
        ("A=unix:///x", "not an engine name"),
        ("a=http://x", "neither"),
        ("a", "not name=url"),
        ("a=tcp://h:1=not-an-ip", "not an IP address"),
    ):
        settings.DOCKERLAB_ENGINES = bad
        with pytest.raises(pool.PoolError, match=words):
            pool.engines()


def test_without_a_pool_the_one_engine_of_the_engine_url_is_the_default(settings):
    settings.DOCKERLAB_ENGINES = ""
    settings.DOCKERLAB_ENGINE_URL = "tcp://10.0.0.9:2376"
    settings.DOCKERLAB_ENGINE_TLS_VERIFY = True
    settings.DOCKERLAB_ENGINE_CERT_PATH = "/certs"
    (engine,) = pool.engines()
    assert engine.name == pool.DEFAULT and engine.url == "tcp://10.0.0.9:2376"
    assert engine.cert_path == "/certs" and not engine.local
    assert engine.publish_host == "10.0.0.9"


def test_work_is_bound_to_an_engine_for_a_block_and_unbound_after(settings):
    settings.DOCKERLAB_ENGINES = "a=unix:///a.sock b=unix:///b.sock"
    assert pool.current().name == "a"
    with pool.using("b"):
        assert pool.current().name == "b"
        with pool.using(""):
            assert pool.current().name == "a"
        assert pool.current().name == "b"
    assert pool.current().name == "a"
    with pool.using("gone"), pytest.raises(pool.UnknownEngine):
        pool.current()
