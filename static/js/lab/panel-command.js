/* panel-command.js - the command form: `docker run [--rm] IMAGE COMMAND`,
 * shown in the command output pane.
 *
 * A run is followed like `docker run` in a terminal: its output until it
 * exits, then its exit code, then (--rm) its removal. The root's
 * data-command-exit says how the last run ended. Lesson lines are tried
 * by tries.js, not here. */

import { LogFollow } from "./follow.js";
import { Pane } from "./pane.js";
import { runLine } from "./parse.js";

export class CommandPanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.pane = new Pane(root.querySelector("[data-lab-pane=command]"));
    this.form = root.querySelector("[data-lab-command]");
    this.pending = null; // "starting", then the container's name, until its output starts
    this.rm = false;
    this.follow = new LogFollow(lab, this.pane, {
      started: (frame) => {
        this.containerName = frame.container;
        this.pending = null;
        lab.markStep("command");
      },
      ended: (frame) => this.ended(frame),
      failed: (err) => lab.showError(err),
    });
    lab.dispatch.on("_closed", () => { this.pending = null; });
    if (!this.form) return;
    this.runButton = this.form.querySelector("[data-lab-command-run]");
    this.image = this.form.querySelector("[data-lab-command-image]");
    this.text = this.form.querySelector("[data-lab-command-text]");
    this.rmBox = this.form.querySelector("[data-lab-command-rm]");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.run(); });
  }

  args() {
    const args = { image: this.image.value, publish: false };
    const command = this.text.value.trim();
    if (command) args.command = command;
    return args;
  }

  run() {
    const lab = this.lab;
    lab.clearError();
    if (this.pending) return;
    const args = this.args();
    // One follow at a time in this pane: let the previous container be.
    this.follow.detach();
    this.rm = this.rmBox.checked;
    this.pane.clear();
    this.pane.note(runLine(args, this.rm));
    lab.root.removeAttribute("data-command-exit");
    lab.reveal(this.pane.node);
    lab.setStatus("Starting a container from " + args.image + "…", "busy");
    this.pending = "starting";
    this.started = Date.now();
    lab.refresh();
    lab.socket.request("run", args).then((frame) => {
      this.pending = frame.data.name;
      lab.setContainer(frame.data);
      lab.setStatus("Container " + frame.data.name + " is " + frame.data.state + ".", "ok");
      return this.follow.start(frame.data.name, 10000);
    }).catch((err) => {
      this.pending = null;
      this.pane.note(err.message || "The container did not start.", "bad");
      lab.showError(err);
      lab.refresh();
    });
  }

  ended(frame) {
    const lab = this.lab;
    const name = this.containerName;
    if (frame.error) {
      this.pane.note("Output stopped: " + frame.error, "bad");
    } else if (typeof frame.exit_code === "number") {
      lab.root.setAttribute("data-command-exit", String(frame.exit_code));
      const ok = frame.exit_code === 0;
      const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
      this.pane.note("Exited with code " + frame.exit_code + ", " + seconds +
        " s after you pressed Run (as your browser saw it).", ok ? "ok" : "bad");
      lab.setStatus(name + " exited with code " + frame.exit_code + ".", ok ? "ok" : "bad");
      if (this.rm) {
        lab.socket.request("remove", { container: name }).then(
          () => this.pane.note("Removed " + name + " (--rm)."), (err) => lab.showError(err));
      } else {
        lab.socket.request("state").catch(() => {});
      }
    } else {
      this.pane.note("No longer following " + name + "; it is still running.");
    }
    lab.refresh();
  }

  refresh(open) {
    if (this.runButton) this.runButton.disabled = !(open && !this.pending);
  }
}
