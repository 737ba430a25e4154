/* tries.js - the "Try" buttons the server put after each lesson code block.
 *
 * The server reads every `$ ` line of a lesson with the lab's own parse
 * (lessons/rendering.py): a line the lab can do gets a button carrying the
 * line's text (data-lab-line), a line it cannot do a note saying why it runs
 * on the learner's own machine. Nothing here reads a command line: a click
 * sends the text in a `line` action, the server parses it again and does
 * what its parse says, and this module shows the frames that come back with
 * the request's ref in an output pane under the block.
 *
 * The block's [data-lab-lines] box says how its last line went:
 * data-line-state is "running", "ok" or "failed"; data-line-exit is the exit
 * code of a command that ran (a foreground `docker run`, `docker exec`). */

import { el, humanSize } from "./dom.js";
import { Pane } from "./pane.js";
import { StreamView } from "./streams.js";

const FINAL = [
  "build.done", "compose.done", "push.done", "pull.done", "exec.done", "logs.end",
  "service.done", "stack.done",
];

/* One tried line: its pane, its ref, and how its frames are shown. */
class LineRun {
  constructor(tries, button) {
    this.tries = tries;
    this.lab = tries.lab;
    this.button = button;
    this.box = button.closest("[data-lab-lines]");
    let node = this.box.querySelector("[data-lab-line-output]");
    if (!node) {
      node = el("div", { class: "lab-output lab-line-output", "data-lab-line-output": "", tabindex: "0" });
      this.box.appendChild(node);
    }
    this.pane = new Pane(node, 500);
    this.open = 0; // actions and streams still to answer
  }

  start() {
    const text = this.button.getAttribute("data-lab-line");
    this.pane.clear();
    this.pane.note("$ " + text);
    this.state("running");
    this.box.removeAttribute("data-line-exit");
    this.lab.clearError();
    const view = new StreamView(this.pane, null, {
      onStep: (f) => this.lab.setStatus(f.text, "busy"),
      onEnd: (f) => this.ended(f),
      onDropped: () => this.finish(false, "The connection to the lab was lost."),
    });
    const request = this.lab.streams.open("line", { text: text }, view);
    this.ref = request.ref;
    this.tries.runs.set(this.ref, this);
    request.catch((err) => this.failed(err));
  }

  state(value) {
    this.box.setAttribute("data-line-state", value);
    this.tries.lab.refresh();
  }

  /* A frame carrying this run's ref (other than a stream's own). */
  frame(f) {
    if (f.type === "line") {
      this.open = f.answers || (f.actions || []).length;
      for (const note of f.notes || []) this.pane.note(note);
    } else if (f.type === "result") {
      this.result(f.action, f.data || {});
    } else if (f.type === "error") {
      this.failed(f);
    }
  }

  result(action, data) {
    const lab = this.lab;
    const lines = [];
    if (action === "run" || action === "start" || action === "restart" || action === "stop") {
      lines.push(data.name + ": " + (data.status || data.state));
      if (data.state === "running") lab.setContainer(data);
    } else if (action === "history") {
      lines.push("IMAGE          SIZE       CREATED BY");
      for (const row of data.rows || []) {
        lines.push(row.id.padEnd(14) + " " + humanSize(row.size).padEnd(10) + " " + row.instruction);
      }
      if (data.hidden) lines.push("(" + data.hidden + " LABEL steps of the lab's own left out)");
    } else if (action === "network" && data.networks) {
      lines.push("NAME                DRIVER    CONTAINERS");
      for (const n of data.networks) {
        lines.push(n.name.padEnd(19) + " " + n.driver.padEnd(9) + " " +
          (n.containers.join(", ") || (n.note ? "(" + n.note + ")" : "")));
      }
    } else if (action === "compose" && data.services) {
      for (const c of data.services) lines.push(c.service + "  " + c.name + "  " + (c.status || c.state));
      if (!data.services.length) lines.push("No containers of the project.");
    } else if (action === "inspect" || (action === "network" && data.Id)) {
      lines.push(...JSON.stringify(data, null, 2).split("\n"));
    } else {
      lines.push(JSON.stringify(data));
    }
    this.pane.add(lines);
    this.done(true);
  }

  ended(f) {
    const ok = f.ok !== undefined ? !!f.ok : !f.error && (f.exit_code === undefined || f.exit_code === 0);
    if (typeof f.exit_code === "number") {
      this.box.setAttribute("data-line-exit", String(f.exit_code));
      this.pane.note("Exited with code " + f.exit_code + "." + (f.removed ? " Removed it (--rm)." : ""),
        f.exit_code === 0 ? "ok" : "bad");
    }
    if (f.limited === "time") this.pane.note("Stopped: it ran longer than the lab allows.", "warn");
    if (f.limited === "output") this.pane.note("Stopped: it printed more than the lab shows.", "warn");
    if (f.error) this.pane.note(f.error, "bad");
    else if (f.type === "build.done" && f.ok) this.pane.note("Built " + f.image + ".", "ok");
    else if (f.type === "compose.done" && f.ok) this.pane.note("The project is up.", "ok");
    else if ((f.type === "push.done" || f.type === "pull.done") && f.ok) this.pane.note("Done: " + f.image + ".", "ok");
    else if ((f.type === "service.done" || f.type === "stack.done") && f.ok) this.pane.note("Done.", "ok");
    this.done(ok);
  }

  done(ok) {
    this.open = Math.max(0, this.open - 1);
    if (!ok) { this.finish(false); return; }
    if (this.open === 0) this.finish(true);
  }

  failed(err) {
    this.pane.note((err && err.message) || "That did not work.", "bad");
    this.lab.showError(err);
    this.finish(false);
  }

  finish(ok, message) {
    if (message) this.pane.note(message, "warn");
    this.tries.runs.delete(this.ref);
    this.state(ok ? "ok" : "failed");
    const step = this.button.closest(".step");
    if (ok && step) step.classList.add("lab-done");
    this.lab.setStatus(ok ? "Done: " + this.button.getAttribute("data-lab-line") : "That did not work.", ok ? "ok" : "bad");
  }
}

export class Tries {
  constructor(lab) {
    this.lab = lab;
    this.runs = new Map();
    this.buttons = Array.from(document.querySelectorAll("[data-lab-line]"));
    for (const button of this.buttons) {
      button.hidden = false;
      button.addEventListener("click", () => new LineRun(this, button).start());
    }
    lab.dispatch.on("*", (f) => {
      if (f.ref === undefined || FINAL.indexOf(f.type) >= 0) return;
      const run = this.runs.get(f.ref);
      if (run) run.frame(f);
    });
    lab.dispatch.on("_closed", () => {
      for (const run of Array.from(this.runs.values())) run.finish(false);
    });
  }

  refresh(open) {
    for (const button of this.buttons) {
      const box = button.closest("[data-lab-lines]");
      button.disabled = !open || (box && box.getAttribute("data-line-state") === "running");
    }
  }
}
