"""The multistage lesson builds both sample Dockerfiles and compares them.

The comparison is a chart of two bars whose values are the sizes the engine
reports for the learner's two images, split by where their layers come
from, with the layers themselves (`docker history`) below it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine import client
from tests.browser.learners import connected, sign_up, try_line

pytestmark = pytest.mark.browser


def _engine_size(sid: str, tag: str) -> int:
    with client.translate_errors():
        return int(client.api().inspect_image(f"dl-{sid}/{tag}")["Size"])


def test_both_dockerfiles_build_and_the_chart_draws_the_engines_sizes(page, sandboxes_made):
    sign_up(page, "/lessons/multistage/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)

    single = "docker build -t flask-app:single ."
    multi = "docker build -f Dockerfile.multistage -t flask-app:multi ."

    sizes = panel.locator("[data-lab-sizes]")
    expect(sizes).to_contain_text("Build flask-app:single and flask-app:multi")
    try_line(page, single, timeout=180_000)
    expect(sizes).to_have_attribute("data-sizes", "1")
    expect(sizes.locator("[data-lab-sizes-summary]")).to_have_text(
        "Build flask-app:multi to compare."
    )
    output = try_line(page, multi, timeout=360_000)
    # Sandboxes share no build cache: the builder stage compiles before this step.
    expect(output).to_contain_text("COPY --from=builder /src/greet.so")
    expect(output).to_contain_text("Built flask-app:multi.")

    # Two bars, valued at the sizes the engine reports, the small one's smaller.
    expect(sizes).to_have_attribute("data-sizes", "2")
    bars = sizes.locator('[data-chart="sizes"] [data-bar]')
    expect(bars).to_have_count(2)
    single = sizes.locator('[data-bar="flask-app:single"]')
    multi = sizes.locator('[data-bar="flask-app:multi"]')
    single_size, multi_size = _engine_size(sid, "flask-app:single"), _engine_size(sid, "flask-app:multi")
    expect(single).to_have_attribute("data-value", str(single_size))
    expect(multi).to_have_attribute("data-value", str(multi_size))
    assert multi_size < single_size
    expect(multi.locator(".chart-value")).to_have_text(re.compile(r"^\d+(\.\d)? MB$"))
    # Each bar is drawn to scale: the longer bar is the larger image.
    widths = [
        bar.locator(".chart-bar").evaluate(
            "svg => Array.from(svg.querySelectorAll('.chart-seg'))"
            ".reduce((w, r) => w + r.width.baseVal.value, 0)"
        )
        for bar in (single, multi)
    ]
    assert widths[0] == pytest.approx(1000, abs=1)
    assert widths[1] == pytest.approx(1000 * multi_size / single_size, abs=4)
    summary = sizes.locator("[data-lab-sizes-summary]")
    expect(summary).to_contain_text("flask-app:multi is ")
    expect(summary).to_contain_text(" smaller than flask-app:single")

    # The layers: split by origin once known, listed with docker history.
    expect(multi.locator(".chart-parts")).to_contain_text("from python:3.12-slim")
    expect(single.locator(".chart-parts")).to_contain_text("from python:3.12 ")
    layers = sizes.locator('[data-layers="flask-app:single"]')
    layers.locator("summary").click()
    expect(layers.locator("td").filter(has_text="RUN gcc")).to_have_count(1)
    expect(sizes.locator('[data-layers="flask-app:multi"] td').filter(has_text="gcc")).to_have_count(0)
    assert f"dl-{sid}" not in sizes.inner_text()

    # The step's run line starts the small image, and it answers with its compiled part.
    try_line(page, "docker run -d --name multi -p 127.0.0.1:5002:5002 flask-app:multi")
    expect(panel.locator("[data-lab-container]")).to_contain_text("from flask-app:multi")
    expect(panel.locator("[data-lab-container-state]")).to_have_text(re.compile("Up"))
    href = panel.get_by_role("link", name="Open app").get_attribute("href")
    app = page.context.new_page()
    app.goto(href)
    expect(app.locator("body")).to_contain_text("from the compiled part (greet.c)", timeout=30_000)
    app.close()

    # The chart stays readable at a phone's width: label, bar and value on screen.
    page.set_viewport_size({"width": 390, "height": 800})
    box = multi.bounding_box()
    assert box and box["width"] <= 390
    for part in (".chart-label", ".chart-bar", ".chart-value"):
        part_box = multi.locator(part).bounding_box()
        assert part_box and part_box["x"] >= 0 and part_box["x"] + part_box["width"] <= 390
