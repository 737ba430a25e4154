"""Asking an app in a sandbox over HTTP, on the loopback port it is published on."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest


def answer(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """One GET: (status, body), error statuses included; OSError if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for_answer(
    url: str,
    accept: Callable[[int, str], bool] = lambda status, body: True,
    timeout: float = 60.0,
) -> tuple[int, str]:
    """GET until the app answers and `accept` likes the answer; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            status, body = answer(url)
        except OSError as exc:  # not listening yet
            last = exc
        else:
            if accept(status, body):
                return status, body
            last = (status, body)
        if time.monotonic() > deadline:
            pytest.fail(f"{url} gave no acceptable answer within {timeout:.0f} s; last: {last!r}")
        time.sleep(0.3)


def ok(status: int, body: str) -> bool:
    return status == 200
