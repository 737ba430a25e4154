"""`manage.py reap` refuses a sweep interval that would hammer the engine."""

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.parametrize("args", [["--every", "1"], ["--every", "60", "--sandbox", "abc"]])
def test_it_refuses_a_bad_sweep_interval(args):
    with pytest.raises(CommandError, match="at least 10 seconds"):
        call_command("reap", *args)
