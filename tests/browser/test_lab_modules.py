"""The lab's front-end modules, each tried alone in Chromium.

No socket and no engine: a page of the site imports one module
(static/js/lab/) and calls it on plain inputs.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

@pytest.fixture
def modules(page):
    page.goto("/lessons/")
    return page


def _call(page, module: str, expression: str, arg=None):
    """Evaluate `expression` (using `m`, the module, and `arg`) in the page."""
    return page.evaluate(
        "async (arg) => {"
        f" const m = await import('/static/js/lab/{module}'); return {expression}; "
        "}",
        arg,
    )


def test_the_run_line_shown_is_what_the_form_does(modules):
    args = {"image": "flask-app", "name": "web", "env": {"A": "1"}, "port": 5002,
            "command": "python app.py"}
    assert _call(modules, "parse.js", "m.runLine(arg, true)", args) == (
        "$ docker run --rm --name web -e A=1 -p 127.0.0.1:<any free port>:5002 "
        "flask-app python app.py"
    )


def test_a_pane_keeps_its_last_lines_and_says_how_many_it_trimmed(modules):
    result = _call(modules, "pane.js", """(() => {
        const node = document.createElement('div');
        document.body.appendChild(node);
        const pane = new m.Pane(node, 100);
        const lines = (from, n) => Array.from({length: n}, (_, i) => 'line ' + (from + i));
        pane.add(lines(0, 60));
        const before = node.childNodes.length;
        pane.add(lines(60, 70));
        pane.add(lines(130, 500));
        pane.note('<b>not bold</b>');
        return {
          before: before,
          count: node.querySelectorAll('.line:not([data-pane-trimmed])').length,
          first: node.childNodes[1].textContent,
          last: node.lastChild.textContent,
          marker: node.firstChild.textContent,
          bold: node.querySelectorAll('b').length,
        };
    })()""")
    assert result["before"] == 60
    assert result["count"] == 100
    assert result["first"] == "line 531"
    assert result["last"] == "<b>not bold</b>"
    assert result["marker"] == "… 531 earlier lines trimmed (this pane keeps the last 100) …"
    assert result["bold"] == 0


def test_frames_go_to_their_types_handlers_then_to_patterns(modules):
    seen = _call(modules, "dispatch.js", """(() => {
        const d = new m.Dispatch();
        const seen = [];
        d.on('*', (f) => seen.push('any:' + f.type));
        d.on('*.start', (f) => seen.push('start:' + f.type));
        d.on('build.start', () => { throw new Error('a broken handler'); });
        d.on('build.start', (f) => seen.push('build:' + f.stream));
        d.emit({type: 'build.start', stream: 'b1'});
        d.emit({type: 'check.start', stream: 'k2'});
        d.emit({type: 'state'});
        return seen;
    })()""")
    assert seen == [
        "build:b1", "start:build.start", "any:build.start",
        "start:check.start", "any:check.start",
        "any:state",
    ]


def test_a_streams_frames_reach_the_view_that_opened_it_and_no_other(modules):
    seen = _call(modules, "streams.js", """(async () => {
        const {Dispatch} = await import('/static/js/lab/dispatch.js');
        const d = new Dispatch();
        let n = 0;
        const socket = {request() {
          n += 1; const p = new Promise(() => {}); p.ref = 'r' + n; return p;
        }};
        const streams = new m.Streams(socket, d);
        const seen = [];
        const view = (name) => ({
          start: (f) => seen.push(name + ' start ' + f.stream),
          step: (f) => seen.push(name + ' step ' + f.step),
          output: (f) => seen.push(name + ' ' + f.lines.join(',')),
          end: (f) => seen.push(name + ' end ' + f.type),
          dropped: () => seen.push(name + ' dropped'),
        });
        streams.open('build', {}, view('build'));
        streams.open('logs', {}, view('logs'));
        d.emit({type: 'logs.start', ref: 'r2', stream: 'l7'});
        d.emit({type: 'build.start', ref: 'r1', stream: 'b8'});
        d.emit({type: 'output', stream: 'b8', lines: ['a', 'b']});
        d.emit({type: 'output', stream: 'zz', lines: ['nobody']});
        d.emit({type: 'build.step', stream: 'b8', step: 2});
        d.emit({type: 'logs.end', stream: 'l7'});
        d.emit({type: 'output', stream: 'l7', lines: ['late']});
        d.emit({type: '_closed'});
        d.emit({type: 'build.done', stream: 'b8'});
        return seen;
    })()""")
    assert seen == [
        "logs start l7", "build start b8", "build a,b", "build step 2", "logs end logs.end",
        "build dropped",
    ]
