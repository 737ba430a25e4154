"""Signing a new learner up in the browser, and waiting for their lab panel."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import expect

from engine import client

PASSWORD = "a-long-Passphrase-9"


def sign_up(page, next_path: str) -> str:
    """Sign a fresh learner up and land on `next_path`; return the username."""
    username = f"learner-{uuid.uuid4().hex[:8]}"
    page.goto(f"/accounts/signup/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{next_path}")
    return username


def connected(panel) -> str:
    """Wait until the panel's socket is open and names its sandbox; return the id."""
    expect(panel.locator("[data-lab-status]")).to_have_text("Connected to your sandbox.")
    expect(panel).to_have_attribute("data-sandbox-id", re.compile(r"^[0-9a-f]{10}$"))
    return panel.get_attribute("data-sandbox-id")


def sandbox_objects(sid: str) -> dict[str, list]:
    """What the engine holds of one sandbox, by its label."""
    label = {"label": [f"org.dockerlab.sandbox={sid}"]}
    api = client.api()
    with client.translate_errors():
        return {
            "running": api.containers(filters=label),
            "containers": api.containers(all=True, filters=label),
            "images": api.images(filters=label),
            "networks": api.networks(filters=label),
            "volumes": (api.volumes(filters=label) or {}).get("Volumes") or [],
        }


def open_app(page, url: str, timeout: float = 60.0, while_waiting: str | None = None):
    """A new tab on the app at `url`, reloaded until it answers 200; return the tab.

    An app whose database is still starting answers 503 first; `while_waiting`,
    when given, is what those answers must say.
    """
    tab = page.context.new_page()
    deadline = time.monotonic() + timeout
    while True:
        response = tab.goto(url)
        if response.status == 200:
            return tab
        body = tab.locator("body").inner_text()
        if while_waiting is not None:
            assert while_waiting in body, body
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {timeout:.0f} s"
        tab.wait_for_timeout(500)


def try_line(page, line: str, timeout: float = 60_000, state: str = "ok"):
    """Click a lesson's `Try: <line>` button; wait for the block's state; return its output."""
    button = page.get_by_role("button", name=f"Try: {line}", exact=True).last  # the step's own
    expect(button).to_be_enabled()
    button.click()
    box = button.locator("xpath=ancestor::*[@data-lab-lines]")
    expect(box).to_have_attribute("data-line-state", state, timeout=timeout)
    return box.locator("[data-lab-line-output]")
