/* panel-container.js - the lab toolbar: the current container and what can
 * be done to it (Run, Logs, Stop, Remove, Inspect, Remove image, Prune,
 * Refresh), the "Open app" link, and the container logs pane.
 *
 * Build is the build panel's. The current container is the lab's
 * (lab.container): Run, the command form and compose up set it, and every
 * state frame brings it up to date. */

import { el, humanSize } from "./dom.js";
import { LogFollow } from "./follow.js";
import { Pane } from "./pane.js";

export class ContainerPanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.box = root.querySelector("[data-lab-container]");
    this.openLink = root.querySelector("[data-lab-open]");
    this.buttons = {};
    root.querySelectorAll("[data-lab-do]").forEach((button) => {
      const action = button.getAttribute("data-lab-do");
      if (action === "build") return; // the build panel's
      this.buttons[action] = button;
      button.addEventListener("click", () => this.act(action));
    });
    if (this.openLink) this.openLink.addEventListener("click", () => lab.markStep("open"));
    this.logPane = new Pane(root.querySelector("[data-lab-pane=logs]"));
    this.logs = new LogFollow(lab, this.logPane, {
      started: (frame, resumed) => {
        if (!resumed) this.logPane.note("Following the logs of " + frame.container + "…");
        lab.markStep("logs");
      },
      ended: (frame) => this.logsEnded(frame),
      failed: (err) => lab.showError(err),
    });
    lab.on("container", () => this.show());
  }

  /* `docker compose logs -f SERVICE`: follow that service's container. */
  logsEnded(frame) {
    if (typeof frame.exit_code === "number") {
      this.logPane.note(frame.container + " exited with code " + frame.exit_code + ".");
      this.lab.socket.request("state").catch(() => {});
    }
    this.logPane.note(frame.error ? "Log stream ended: " + frame.error : "No longer following the logs.");
    this.lab.refresh();
  }

  act(action) {
    const lab = this.lab;
    lab.clearError();
    const fail = (err) => { lab.showError(err); lab.refresh(); };
    const done = (verb, text) => { lab.markStep(verb); lab.setStatus(text, "ok"); };
    if (action === "run") {
      lab.setStatus("Starting a container from " + lab.tag + "…", "busy");
      lab.socket.request("run", { image: lab.tag }).then((frame) => {
        lab.setContainer(frame.data);
        done("run", "Container " + frame.data.name + " is " + frame.data.state + ".");
        lab.refresh();
      }, fail);
    } else if (action === "logs") {
      if (this.logs.live) { this.logs.stop().catch(fail); return; }
      if (!lab.container) return;
      this.logPane.clear();
      lab.reveal(this.logPane.node);
      this.logs.start(lab.container.name).catch(fail);
    } else if (action === "inspect") {
      const kind = lab.container ? "container" : "image";
      const target = lab.container ? lab.container.name : lab.tag;
      lab.socket.request("inspect", { kind: kind, name: target }).then((frame) => {
        const box = lab.root.querySelector("[data-lab-inspect]");
        if (!box) return;
        box.querySelector("summary").textContent = "docker inspect " + target;
        box.querySelector("pre").textContent = JSON.stringify(frame.data, null, 2);
        box.hidden = false;
        box.open = true;
        done("inspect", "Inspected " + kind + " " + target + ".");
      }, fail);
    } else if (action === "rmi") {
      const tag = lab.tag;
      lab.setStatus("Removing image " + tag + "…", "busy");
      lab.socket.request("rmi", { image: tag }).then(() => done("rmi", "Removed image " + tag + "."), fail);
    } else if (action === "prune") {
      if (!window.confirm("Remove every stopped container and every untagged image in your sandbox?")) return;
      lab.socket.request("prune").then((frame) => {
        const d = frame.data || {};
        done("prune", "Pruned " + (d.containers || 0) + " containers and " + (d.images || 0) +
          " images, reclaimed " + humanSize(d.space_reclaimed || 0) + ".");
      }, fail);
    } else if (action === "state") {
      lab.socket.request("state").then(() => lab.markStep("state"), fail);
    } else if (action === "stop" || action === "remove") {
      this.stopOrRemove(action, fail);
    }
  }

  stopOrRemove(action, fail) {
    const lab = this.lab;
    if (!lab.container) return;
    const name = lab.container.name;
    const verb = action === "stop" ? ["Stopping ", "Stopped "] : ["Removing ", "Removed "];
    lab.setStatus(verb[0] + name + "…", "busy");
    lab.socket.request(action, { container: name }).then(() => {
      if (action === "remove") lab.setContainer(null);
      lab.markStep(action);
      lab.setStatus(verb[1] + name + ".", "ok");
      lab.refresh();
    }, fail);
  }

  show() {
    if (!this.box) return;
    const c = this.lab.container;
    this.box.textContent = "";
    if (!c) {
      this.box.appendChild(el("span", { class: "muted" }, "No container yet."));
      return;
    }
    this.box.appendChild(el("span", null, "Container "));
    this.box.appendChild(el("strong", { "data-lab-container-name": "" }, c.name));
    this.box.appendChild(el("span", null, " from " + c.image + ": "));
    this.box.appendChild(el("span", { class: "badge state-" + c.state, "data-lab-container-state": "" },
      c.status || c.state));
    for (const p of c.ports || []) {
      this.box.appendChild(el("span", { class: "port" }, " port " + p.container + " → 127.0.0.1:" + p.host));
    }
  }

  refresh(open) {
    const lab = this.lab;
    const c = lab.container;
    const running = !!(c && c.state === "running");
    const set = (button, enabled) => { if (button) button.disabled = !enabled; };
    const b = this.buttons;
    set(b.run, open);
    set(b.logs, open && !!c);
    set(b.stop, open && running);
    set(b.remove, open && !!c);
    set(b.inspect, open && (!!c || lab.hasImage));
    set(b.rmi, open && lab.hasImage);
    set(b.prune, open);
    set(b.state, open);
    if (b.logs) b.logs.textContent = this.logs.live ? "Stop following" : "Logs";
    if (!this.openLink) return;
    if (running && c.ports && c.ports.length) {
      this.openLink.href = lab.appBase + encodeURIComponent(c.name) + "/";
      this.openLink.removeAttribute("aria-disabled");
      this.openLink.classList.remove("disabled");
    } else {
      this.openLink.removeAttribute("href");
      this.openLink.setAttribute("aria-disabled", "true");
      this.openLink.classList.add("disabled");
    }
  }
}
