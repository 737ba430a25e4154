/* panel-command.js - `docker run [--rm] IMAGE COMMAND` and the image
 * commands of the registry lesson (`docker tag/push/pull/rmi`), all shown
 * in the command output pane.
 *
 * A run is followed like `docker run` in a terminal: its output until it
 * exits, then its exit code, then (--rm) its removal. Options a lesson line
 * gave that the form does not show (--name, -e, -p, --network) hold until
 * the learner changes the image or the command by hand. The root's
 * data-command-exit and data-registry-result say how the last run, push or
 * pull ended. */

import { el } from "./dom.js";
import { LogFollow } from "./follow.js";
import { Pane } from "./pane.js";
import { runLine } from "./parse.js";
import { StreamView } from "./streams.js";

export class CommandPanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.pane = new Pane(root.querySelector("[data-lab-pane=command]"));
    this.form = root.querySelector("[data-lab-command]");
    this.pending = null; // "starting", then the container's name, until its output starts
    this.registryStream = null; // a push or pull in progress ("pending" until it starts)
    this.extra = null;
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
    lab.dispatch.on("_closed", () => { this.pending = null; this.registryStream = null; });
    if (!this.form) return;
    this.runButton = this.form.querySelector("[data-lab-command-run]");
    this.image = this.form.querySelector("[data-lab-command-image]");
    this.text = this.form.querySelector("[data-lab-command-text]");
    this.rmBox = this.form.querySelector("[data-lab-command-rm]");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.run(); });
    const typed = () => { this.extra = null; };
    this.text.addEventListener("input", typed);
    this.image.addEventListener("change", typed);
  }

  /* Official image names the lessons print -> the names the lab runs them as. */
  images() {
    const names = {};
    if (!this.image) return names;
    for (const option of this.image.options) {
      const official = option.getAttribute("data-official");
      if (official) names[official] = option.value;
    }
    return names;
  }

  /* Put a parsed `docker run` line into the form. */
  fill(run) {
    const known = Array.prototype.some.call(this.image.options, (o) => o.value === run.image);
    if (!known) this.image.appendChild(el("option", { value: run.image, "data-own": "" }, run.image));
    this.image.value = run.image;
    this.text.value = run.command;
    this.rmBox.checked = run.rm;
    this.extra = { name: run.name, env: run.env, port: run.port, network: run.network };
  }

  args() {
    const extra = this.extra || {};
    const args = { image: this.image.value };
    const command = this.text.value.trim();
    if (command) args.command = command;
    if (extra.name) args.name = extra.name;
    if (extra.env && Object.keys(extra.env).length) args.env = extra.env;
    if (extra.port) args.port = extra.port;
    else args.publish = false;
    return args;
  }

  run() {
    const lab = this.lab;
    lab.clearError();
    if (this.pending) return;
    const args = this.args();
    const network = (this.extra || {}).network;
    // One follow at a time in this pane: let the previous container be.
    this.follow.detach();
    this.rm = this.rmBox.checked;
    this.pane.clear();
    this.pane.note(runLine(args, this.rm));
    if (network) {
      this.pane.note("(--network " + network + ": in the lab every container of your sandbox " +
        "joins your sandbox's own network, where names like this one's resolve.)");
    }
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

  /* `docker tag`, `rmi`, `push` or `pull` of a lesson line. */
  imageOp(op) {
    const lab = this.lab;
    lab.clearError();
    if (this.registryStream) return;
    this.pane.note("$ " + op.label);
    lab.reveal(this.pane.node);
    const fail = (err) => {
      this.registryStream = null;
      this.pane.note(err.message || "That did not work.", "bad");
      lab.showError(err);
      lab.refresh();
    };
    if (op.op === "tag") {
      lab.socket.request("tag", { source: op.source, target: op.target }).then((frame) => {
        this.pane.note("Tagged " + frame.data.source + " as " + frame.data.target + ".", "ok");
        lab.markStep("tag");
        lab.setStatus("Tagged " + frame.data.target + ".", "ok");
      }, fail);
    } else if (op.op === "rmi") {
      lab.socket.request("rmi", { image: op.image }).then((frame) => {
        for (const t of frame.data.untagged || []) this.pane.add(["Untagged: " + t]);
        for (const d of frame.data.deleted || []) this.pane.add(["Deleted: " + d]);
        lab.markStep("rmi");
        lab.setStatus("Removed " + op.image + ".", "ok");
      }, fail);
    } else {
      this.registryStream = "pending";
      lab.setStatus((op.op === "push" ? "Pushing " : "Pulling ") + op.image + "…", "busy");
      lab.refresh();
      lab.streams.open(op.op, { image: op.image }, this.registryView()).catch(fail);
    }
  }

  registryView() {
    const lab = this.lab;
    return new StreamView(this.pane, null, {
      onStart: (f) => {
        this.registryStream = f.stream;
        lab.root.removeAttribute("data-registry-result");
      },
      onEnd: (f) => {
        const verb = f.type === "push.done" ? "push" : "pull";
        const did = verb === "push" ? "Pushed " : "Pulled ";
        this.registryStream = null;
        lab.root.setAttribute("data-registry-result", verb + (f.ok ? " ok" : " failed"));
        if (f.ok) {
          this.pane.note(did + f.image + ".", "ok");
          lab.markStep(verb);
          lab.setStatus(did + f.image + ".", "ok");
        } else {
          lab.whyFailed(f.error).then((error) => {
            this.pane.note(verb + " failed: " + error, "bad");
            lab.showError({ status: "docker " + verb + " failed.", message: error });
          });
        }
      },
    });
  }

  refresh(open) {
    if (this.runButton) this.runButton.disabled = !(open && !this.pending);
  }
}
