"""The VMs-vs-containers lesson times container starts and charts them.

The server starts N containers one after the other and times them; the
page draws N stacked bars (create, start, first output) with their values
in text, and the median beside cited VM boot times, each with its source.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sandbox_objects, sign_up

pytestmark = pytest.mark.browser


def test_the_timing_chart_shows_each_run_and_the_cited_vm_figures(page, sandboxes_made):
    sign_up(page, "/lessons/vms-vs-containers/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)

    timing = panel.locator("[data-lab-timing]")
    button = timing.get_by_role("button", name="Time 5 container starts")
    expect(button).to_be_enabled()
    timing.get_by_label("How many containers to start").select_option("3")
    button = timing.get_by_role("button", name="Time 3 container starts")
    button.click()
    expect(timing).to_have_attribute("data-timing-runs", "3", timeout=60_000)

    runs = timing.locator('[data-chart="starts"] [data-bar]')
    expect(runs).to_have_count(3)
    for i in range(3):
        row = runs.nth(i)
        expect(row.locator(".chart-label")).to_have_text(f"Run {i + 1}")
        expect(row.locator(".chart-value")).to_have_text(re.compile(r"^\d+(\.\d)? ms$"))
        expect(row.locator(".chart-parts")).to_contain_text("create ")
        expect(row.locator(".chart-parts")).to_contain_text("first output ")
        assert float(row.get_attribute("data-value")) > 0
    legend = timing.locator('[data-chart="starts"] .chart-legend')
    expect(legend).to_have_text(re.compile("create.*start.*first output"))
    expect(timing.locator("[data-lab-timing-summary]")).to_contain_text("Median: ")

    vms = timing.locator('[data-chart="vms"]')
    expect(vms.locator("figcaption")).to_contain_text("cited, not measured here")
    expect(vms.locator('[data-bar="container"] .chart-label')).to_contain_text("measured")
    expect(vms.locator(".chart-note").first).to_contain_text("Source: ")
    expect(vms.locator(".chart-note")).to_have_count(3)
    expect(vms).to_contain_text("Mao and Humphrey")
    ec2 = vms.locator('[data-bar="vm-2"]')
    expect(ec2.locator(".chart-value")).to_have_text("96.9 s")
    expect(ec2.locator(".chart-note")).to_contain_text("average. Source: Mao and Humphrey")

    # One scale per chart: every bar's track has the same length.
    for chart in ("starts", "vms"):
        tracks = timing.locator(f'[data-chart="{chart}"] .chart-bar').all()
        assert len({round(track.bounding_box()["width"]) for track in tracks}) == 1

    # Readable on a phone: every label, bar and value of both charts on screen.
    page.set_viewport_size({"width": 390, "height": 800})
    for row in timing.locator("[data-bar]").all():
        for part in (".chart-label", ".chart-bar", ".chart-value"):
            box = row.locator(part).bounding_box()
            assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(panel.locator("[data-lab-status]")).to_have_text("Timed 3 container starts.")

    # The timing's containers and the network they needed are gone.
    objects = sandbox_objects(sid)
    assert objects["containers"] == [] and objects["networks"] == []
