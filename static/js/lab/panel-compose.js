/* panel-compose.js - `docker compose up -d --build / ps / down [-v]` of the
 * sample's compose.yaml (or the learner's edit of it): the buttons, the
 * progress of `up`, the services table and the compose output pane.
 *
 * One compose command at a time. The root's data-compose-result says how
 * the last `up` ended. */

import { Pane } from "./pane.js";
import { Progress, StreamView } from "./streams.js";
import { fill, serviceRow } from "./tables.js";

export class ComposePanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.pane = new Pane(root.querySelector("[data-lab-pane=compose]"));
    this.rows = root.querySelector("[data-lab-compose-rows]");
    this.progress = new Progress(root.querySelector("[data-lab-compose-progress]"),
      root.querySelector("[data-lab-compose-step]"));
    this.file = root.querySelector("[data-lab-compose-file]");
    this.volumesBox = root.querySelector("[data-lab-compose-volumes]");
    this.buttons = Array.from(root.querySelectorAll("[data-lab-compose-do]"));
    this.stream = null; // an `up` in progress ("pending" until compose.start)
    this.busy = false; // a `ps` or `down` in progress
    const reset = root.querySelector("[data-lab-compose-reset]");
    if (reset && this.file) reset.addEventListener("click", () => { this.file.value = this.file.defaultValue; });
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.run(button.getAttribute("data-lab-compose-do")));
    }
    lab.dispatch.on("_closed", () => { this.stream = null; this.busy = false; });
  }

  idle(open) { return open && !this.stream && !this.busy; }

  run(command) {
    const lab = this.lab;
    lab.clearError();
    if (this.busy || this.stream) return;
    if (command === "up") { this.up(); return; }
    const args = { command: command };
    if (command === "down") args.volumes = !!(this.volumesBox && this.volumesBox.checked);
    this.pane.note("$ docker compose " + command + (args.volumes ? " -v" : ""));
    lab.reveal(this.pane.node);
    this.busy = true;
    lab.refresh();
    lab.socket.request("compose", args).then((frame) => {
      this.busy = false;
      const d = frame.data || {};
      if (command === "ps") this.listed(d.services || []);
      else this.downed(d);
      lab.refresh();
    }, (err) => this.failed(err));
  }

  up() {
    const lab = this.lab;
    this.pane.clear();
    this.pane.note("$ docker compose up -d --build");
    lab.reveal(this.pane.node);
    lab.setStatus("Starting the compose project…", "busy");
    this.stream = "pending";
    lab.refresh();
    const args = { command: "up" };
    if (this.file && this.file.value !== this.file.defaultValue) {
      args.file = this.file.value;
      this.pane.note("(with your edited compose.yaml)");
    }
    lab.streams.open("compose", args, this.view()).catch((err) => {
      this.stream = null;
      this.pane.note(err.message || "compose up did not start.", "bad");
      this.failed(err);
    });
  }

  view() {
    const lab = this.lab;
    return new StreamView(this.pane, this.progress, {
      onStart: (f) => { this.stream = f.stream; },
      onStep: (f) => lab.setStatus(f.text + "…", "busy"),
      onEnd: (f) => this.done(f),
    });
  }

  done(frame) {
    const lab = this.lab;
    this.stream = null;
    lab.root.setAttribute("data-compose-result", frame.ok ? "ok" : "failed");
    if (frame.ok) {
      this.pane.note("The project is up.", "ok");
      this.show(frame.services || []);
      lab.markStep("compose");
      lab.setStatus("The compose project is up.", "ok");
    } else {
      lab.whyFailed(frame.error).then((error) => {
        this.pane.note("compose up failed: " + error, "bad");
        lab.showError({ status: "compose up failed.", message: error });
      });
    }
  }

  listed(services) {
    this.show(services);
    for (const c of services) this.pane.add([c.service + "  " + c.name + "  " + (c.status || c.state)]);
    if (!services.length) this.pane.note("No containers of the project.");
    this.lab.setStatus("Listed the project's containers.", "ok");
  }

  downed(data) {
    for (const name of data.removed || []) this.pane.add(["Container " + name + "  Removed"]);
    for (const name of data.volumes || []) this.pane.add(["Volume " + name + "  Removed"]);
    this.show([]);
    this.lab.markStep("compose");
    this.lab.setStatus("The compose project is down.", "ok");
  }

  failed(err) {
    this.busy = false;
    this.lab.showError(err);
    this.lab.refresh();
  }

  /* The services table; a running service with a port becomes the lab's container. */
  show(services) {
    if (!this.rows) return;
    fill(this.rows, services, 4, "Not up.", serviceRow);
    const web = services.filter((c) => (c.ports || []).length && c.state === "running")[0];
    if (web) this.lab.setContainer(web);
  }

  refresh(open) {
    const idle = this.idle(open);
    for (const button of this.buttons) button.disabled = !idle;
  }
}
