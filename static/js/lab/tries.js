/* tries.js - a "Try" button beside each line of the lesson's steps that the
 * lab can do as written: `docker run` (the command form), `docker
 * tag/push/pull/rmi`, `docker compose ...` and `docker build`. The first
 * runnable line with a command also fills the command form.
 *
 * Lines are read by parse.js; a button only appears for a panel this lab
 * has, and is enabled while that panel could take it. Pressing one tells
 * the server which step the learner is on (its checks are then among those
 * checked after the action). */

import { el } from "./dom.js";
import {
  logicalLines, parseBuildLine, parseComposeLine, parseImageLine, parseRunLine,
} from "./parse.js";

export class Tries {
  constructor(lab, panels) {
    this.lab = lab;
    this.panels = panels;
    this.buttons = [];
    const pres = document.querySelectorAll(".step pre");
    for (const pre of pres) {
      for (const line of logicalLines(pre.textContent).reverse()) this.offer(pre, line);
    }
    this.fillFirstCommand(pres);
  }

  /* What this lab can do of one line: [kind, label, action], or null. */
  read(line) {
    const { command, compose, build, container } = this.panels;
    if (command.form) {
      const run = parseRunLine(line, command.images());
      if (run) {
        const label = run.command || (run.name ? "run " + run.name + " (" + run.image + ")" : "run " + run.image);
        return ["command", label, () => {
          command.fill(run);
          command.form.scrollIntoView({ block: "nearest" });
          command.run();
        }];
      }
      const op = parseImageLine(line);
      if (op) return ["image", op.label, () => command.imageOp(op)];
    }
    const composed = compose.present ? parseComposeLine(line) : null;
    if (composed) {
      return ["compose", "compose " + composed.label, () => {
        if (composed.logs) container.followService("flaskapp-" + composed.logs + "-1");
        else compose.run(composed.command, composed.volumes);
      }];
    }
    const swarmed = this.panels.swarm ? this.panels.swarm.parse(line) : null;
    if (swarmed) return ["swarm", swarmed.label, () => this.panels.swarm.run(swarmed)];
    const built = build.offersSamples ? parseBuildLine(line, build.samples) : null;
    if (built) {
      const file = built.file === "Dockerfile" ? "" : "-f " + built.file + " ";
      return ["build", "build " + file + "-t " + built.tag, () => build.buildAs(built)];
    }
    return null;
  }

  offer(pre, line) {
    const found = this.read(line);
    if (!found) return;
    const [kind, label, go] = found;
    const button = el("button", { type: "button", class: "secondary lab-try", "data-lab-try": kind }, "Try: " + label);
    button.disabled = true;
    button.addEventListener("click", () => {
      this.lab.focusStep(pre.closest(".step"));
      go();
    });
    pre.parentNode.insertBefore(button, pre.nextSibling);
    this.buttons.push(button);
  }

  fillFirstCommand(pres) {
    const command = this.panels.command;
    if (!command.form) return;
    for (const pre of pres) {
      for (const line of logicalLines(pre.textContent)) {
        const run = parseRunLine(line, command.images());
        if (run && run.command) { command.fill(run); return; }
      }
    }
  }

  refresh(open) {
    const { command, compose, build } = this.panels;
    const busy = {
      build: build.busy,
      compose: !compose.idle(open),
      image: !!command.registryStream,
      command: !!command.pending,
      swarm: !!(this.panels.swarm && this.panels.swarm.busy),
    };
    for (const button of this.buttons) {
      button.disabled = !open || busy[button.getAttribute("data-lab-try")];
    }
  }
}
