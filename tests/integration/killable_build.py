"""A build through the sandbox services in a process of its own, for tests to kill.

Usage, from the repository's root:

    python -m tests.integration.killable_build SID TAG < Dockerfile

It reads the sandbox from the database DOCKERLAB_DB names (the test run's),
builds the Dockerfile given on stdin, and prints each build event as one
JSON line, flushed, so the test can SIGKILL it at a known step.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")

import django  # noqa: E402

django.setup()

from sandboxes import services  # noqa: E402
from sandboxes.models import Sandbox  # noqa: E402


def main() -> None:
    sid, tag = sys.argv[1], sys.argv[2]
    sandbox = Sandbox.objects.get(sid=sid)
    for event in services.build_image(sandbox, tag, sys.stdin.read()):
        print(json.dumps(event), flush=True)


if __name__ == "__main__":
    main()
