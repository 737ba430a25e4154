/* panel-check.js - "did I do it?" on a lesson page: the box of each checked
 * step and challenge ([data-check-box], templates/lessons/_check_box.html).
 *
 * The server decides. A step turns done only from a check.result frame:
 * the answer to "Check my work", or the check the server runs by itself
 * after a lab action that may have changed the step (docs/websocket.md).
 * Pressing a lab button never ticks anything. The page tells the server
 * which lesson it shows with `watch` after every hello, and which step the
 * learner is on when they press one of that step's Try buttons; the answer
 * to `watch` brings every box up to date after a reconnect (another tab may
 * have done the work meanwhile).
 *
 * Reasons, hints and solution lines are text, never HTML (dom.js). */

import { el } from "./dom.js";

const DONE = "done";
const FAILING = "failing";
const SOLUTION_WARNING =
  "Show the solution? It is kept with your progress that you looked. " +
  "The step still only counts once your own work passes its checks.";

/* `text` into `node`, its `backticked` parts as <code> (as the lesson files
 * write code in hints); every part goes in as text. */
export function withCode(node, text) {
  const parts = String(text).split("`");
  if (parts.length % 2 === 0) { node.textContent = String(text); return node; }
  parts.forEach((part, i) => {
    if (part) node.appendChild(i % 2 ? el("code", null, part) : document.createTextNode(part));
  });
  return node;
}

export class CheckPanel {
  constructor(socket, dispatch, page) {
    this.socket = socket;
    const article = page.querySelector(".lesson[data-lesson]");
    this.lesson = article ? article.getAttribute("data-lesson") : null;
    this.boxes = new Map();
    this.focus = null;
    for (const box of page.querySelectorAll("[data-check-box]")) {
      this.boxes.set(this.key(box.getAttribute("data-kind"), box.getAttribute("data-number")), box);
      for (const button of box.querySelectorAll("[data-check-do]")) {
        const what = button.getAttribute("data-check-do");
        button.addEventListener("click", () => this[what](box));
      }
    }
    dispatch.on("hello", () => { this.watch(); this.refresh(); });
    dispatch.on("check.result", (frame) => this.onResult(frame));
    for (const type of ["_open", "_closed", "_refused"]) dispatch.on(type, () => this.refresh());
  }

  get present() { return !!this.lesson && this.boxes.size > 0; }

  key(kind, number) { return kind + "-" + number; }

  item(box) { return box.closest(".step, .challenge"); }

  args(box) {
    return {
      lesson: this.lesson,
      kind: box.getAttribute("data-kind"),
      number: Number(box.getAttribute("data-number")),
    };
  }

  /* Tell the server this page's lesson (and the step the learner is on). */
  watch() {
    if (!this.present || !this.socket.open) return;
    const args = { lesson: this.lesson };
    if (this.focus) args.step = this.focus;
    this.socket.request("watch", args).then(
      (frame) => this.onProgress((frame.data || {}).progress), () => {});
  }

  /* The learner is on step `number` (they pressed one of its Try buttons). */
  focusStep(number) {
    if (!number || number === this.focus) return;
    this.focus = number;
    this.watch();
  }

  /* A lab control that is not a server action was used ("Open app"): the
   * server cannot see it, so ask it to check the first step not done yet
   * that asks for it. */
  noticed(action) {
    if (action !== "open") return;
    for (const box of this.boxes.values()) {
      const item = this.item(box);
      if (item && item.getAttribute("data-lab-action") === action &&
          box.getAttribute("data-state") !== DONE) {
        this.check(box);
        return;
      }
    }
  }

  check(box) {
    if (box.hasAttribute("data-busy")) return;
    this.busy(box, true);
    this.clearError(box);
    this.status(box, "Checking your work in your sandbox…", "busy");
    // The check.result frame itself is drawn by onResult (every tab of this
    // learner on this lesson gets one).
    this.socket.request("check", this.args(box)).then(
      () => this.busy(box, false),
      (err) => {
        this.busy(box, false);
        this.drawState(box, box.getAttribute("data-state"), box.getAttribute("data-reason") || "");
        this.showError(box, err);
      });
  }

  hint(box) {
    this.clearError(box);
    this.socket.request("hint", this.args(box)).then((frame) => {
      const data = frame.data || {};
      const list = box.querySelector("[data-check-hints]");
      list.textContent = "";
      for (const text of data.hints || []) list.appendChild(withCode(el("li"), text));
      box.querySelector("[data-check-hints-box]").hidden = !list.children.length;
      box.setAttribute("data-hints-revealed", String(data.revealed || 0));
      const button = box.querySelector('[data-check-do="hint"]');
      button.textContent = "Show another hint";
      button.hidden = (data.revealed || 0) >= (data.of || 0);
    }, (err) => this.showError(box, err));
  }

  solution(box) {
    if (!window.confirm(SOLUTION_WARNING)) return;
    this.clearError(box);
    this.socket.request("solution", this.args(box)).then((frame) => {
      const lines = (frame.data || {}).lines || [];
      const shown = box.querySelector("[data-check-solution]");
      shown.querySelector("pre").textContent = lines.join("\n");
      shown.hidden = false;
      box.querySelector('[data-check-do="solution"]').hidden = true;
    }, (err) => this.showError(box, err));
  }

  onResult(frame) {
    if (frame.lesson !== this.lesson) return;
    const box = this.boxes.get(this.key(frame.kind, frame.number));
    if (!box) return;
    const progress = frame.progress || {};
    const failed = (frame.results || []).filter((r) => !r.passed);
    const reason = failed.length ? failed[0].reason : "";
    this.drawState(box, progress.state, reason, frame.passed);
    box.setAttribute("data-checked-by", frame.auto ? "auto" : "learner");
    this.drawResults(box, frame);
  }

  /* States from the answer to `watch` (progress.progress_for's lesson entry). */
  onProgress(summary) {
    if (!summary) return;
    for (const view of (summary.steps || []).concat(summary.challenges || [])) {
      const box = this.boxes.get(this.key(view.kind, view.number));
      if (box && !box.hasAttribute("data-busy")) this.drawState(box, view.state, view.reason || "");
    }
  }

  drawState(box, state, reason, passedNow) {
    state = state || "not_started";
    box.setAttribute("data-state", state);
    box.setAttribute("data-reason", reason || "");
    const item = this.item(box);
    if (item) {
      item.setAttribute("data-check-state", state);
      item.classList.toggle("lab-done", state === DONE);
    }
    if (state === DONE && passedNow !== false) {
      this.status(box, "Done: your work passed its checks.", "ok");
    } else if (state === DONE) {
      // Done stays done: later steps undo earlier ones on purpose.
      this.status(box, "Done earlier. Checked again now: " + reason, "ok");
    } else if (state === FAILING) {
      this.status(box, "Not yet: " + reason, "bad");
    } else {
      this.status(box, "Not checked yet.", "");
    }
  }

  drawResults(box, frame) {
    const list = box.querySelector("[data-check-results]");
    list.textContent = "";
    for (const result of frame.results || []) {
      const row = el("li", { class: "check-result", "data-passed": String(!!result.passed) });
      row.appendChild(el("span", { class: "check-mark", "aria-hidden": "true" }, result.passed ? "✓" : "✗"));
      const text = el("div", { class: "check-text" });
      text.appendChild(el("span", { class: "check-what" }, result.description));
      if (!result.passed) {
        text.appendChild(el("span", { class: "check-reason" }, result.reason));
        if (result.hint) text.appendChild(el("span", { class: "check-hint" }, "Hint: " + result.hint));
      }
      row.appendChild(text);
      list.appendChild(row);
    }
    if (frame.auto) {
      list.appendChild(el("li", { class: "check-note muted" }, "Checked by itself after your last lab action."));
    }
    list.hidden = !list.children.length;
  }

  status(box, text, kind) {
    const line = box.querySelector("[data-check-status]");
    line.textContent = text;
    line.setAttribute("data-kind", kind || "");
  }

  showError(box, err) {
    let line = box.querySelector("[data-check-error]");
    if (!line) {
      line = el("p", { class: "check-error", "data-check-error": "", role: "alert" });
      box.querySelector("[data-check-status]").after(line);
    }
    line.textContent = (err && err.message) || "That did not work; try again in a moment.";
    line.hidden = false;
  }

  clearError(box) {
    const line = box.querySelector("[data-check-error]");
    if (line) line.hidden = true;
  }

  busy(box, on) {
    if (on) box.setAttribute("data-busy", "");
    else box.removeAttribute("data-busy");
    const button = box.querySelector('[data-check-do="check"]');
    if (button) button.textContent = on ? "Checking…" : "Check my work";
    this.refresh();
  }

  refresh() {
    const open = this.socket.open;
    for (const box of this.boxes.values()) {
      const busy = box.hasAttribute("data-busy");
      for (const button of box.querySelectorAll("[data-check-do]")) {
        button.disabled = !open || (busy && button.getAttribute("data-check-do") === "check");
      }
    }
  }
}
