"""Integration tier: a real Docker engine, never a mock.

When no engine answers, every test here fails with the reason (it does not skip):
a green suite must mean the engine paths were exercised.
"""

import pytest

from engine import client


@pytest.fixture(autouse=True, scope="session")
def engine_required():
    try:
        facts = client.ping()
    except client.EngineError as exc:
        pytest.fail(
            f"Integration tests need a running Docker engine: {exc.message} "
            "(run `make engine`).",
            pytrace=False,
        )
    return facts
