"""The classroom swarm that `make test` (and `make run`) brought up is there and ready.

Read-only: this looks at the configured swarm and changes nothing in it;
tests/integration/test_swarm.py drives a swarm of its own.
"""

import pytest
from django.conf import settings

from orchestration.services import nodes, swarm

# The classroom swarm is one for the whole run: its integration tests take turns
# on one worker (not the browser test: a worker that has run one keeps Playwright's
# event loop, so it must run no integration test after it).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("classroom-swarm")]


def test_the_classroom_swarm_is_up_with_every_node_ready():
    if not settings.DOCKERLAB_SWARM:
        pytest.skip("orchestration is switched off (DOCKERLAB_SWARM=0)")
    report = swarm.status()
    failing = [f"{row.subject}: {row.detail}" for row in report.rows if not row.ok]
    assert report.ok, f"run `make swarm`; not ready: {failing}"
    node_rows = [row.subject for row in report.rows if row.subject.startswith("node ")]
    assert node_rows
    if not nodes.external():
        assert node_rows == [f"node {hostname}" for hostname in nodes.hostnames()]
