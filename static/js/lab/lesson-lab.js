/* lesson-lab.js - the lab panel of a lesson page ([data-lab-panel]); the
 * page's entry script, loaded as a module.
 *
 * Lab is what the panels share: the socket, the dispatch table and the
 * stream router, the status line and error box, the current container and
 * image tag, and the last state frame. Each panel (panel-*.js) registers
 * the frames it handles and draws its own part; after every frame,
 * refresh() lets each one enable what can be done now. The module layout
 * is described in README.md.
 *
 * Steps are ticked by the server only (panel-check.js draws its check
 * results); a page without a lab panel but with checked steps (a lesson
 * without a lab) loads this module for the checks alone. */

import { Dispatch } from "./dispatch.js";
import { EngineStatus } from "./engine.js";
import { BuildPanel } from "./panel-build.js";
import { CheckPanel } from "./panel-check.js";
import { CommandPanel } from "./panel-command.js";
import { ComposePanel } from "./panel-compose.js";
import { ContainerPanel } from "./panel-container.js";
import { SwarmPanel } from "./panel-swarm.js";
import { loaded } from "./loaded.js";
import { AppPanel } from "./panel-app.js";
import { SizesPanel } from "./panel-sizes.js";
import { TimingPanel } from "./panel-timing.js";
import { LabSocket } from "./socket.js";
import { Streams } from "./streams.js";
import { fill, lessonImageRow } from "./tables.js";
import { Tries } from "./tries.js";

class Lab {
  constructor(root, socket, dispatch, streams, engine, checks) {
    this.root = root;
    this.checks = checks;
    this.socket = socket;
    this.dispatch = dispatch;
    this.streams = streams;
    this.engine = engine;
    this.appBase = root.getAttribute("data-app-base") || "/sandbox/app/";
    this.tag = root.getAttribute("data-image") || "flask-app";
    this.status = root.querySelector("[data-lab-status]");
    this.errorBox = root.querySelector("[data-lab-error]");
    this.imageRows = root.querySelector("[data-lab-images-rows]");
    this.container = null;
    this.hasImage = false;
    this.lastState = null;
    this.outputFrames = 0;
    this.listeners = {};
  }

  on(event, fn) { (this.listeners[event] = this.listeners[event] || []).push(fn); }
  emit(event) { for (const fn of this.listeners[event] || []) fn(); }

  start() {
    this.panels = {
      container: new ContainerPanel(this),
      build: new BuildPanel(this),
      command: new CommandPanel(this),
      compose: new ComposePanel(this),
      app: new AppPanel(this),
      sizes: new SizesPanel(this),
      timing: new TimingPanel(this),
      swarm: new SwarmPanel(this),
    };
    this.tries = new Tries(this);
    const d = this.dispatch;
    d.on("_open", () => {
      this.setStatus("Opening your sandbox…", "");
      this.refreshState();
    });
    d.on("_closed", () => this.setStatus("Connection lost; reconnecting…", "bad"));
    d.on("_refused", (frame) => this.setStatus(frame.code === 4429
      ? "Too many lab tabs are open: close one, then reload this page."
      : "Sign in to use the lab.", "bad"));
    d.on("hello", (f) => {
      this.root.setAttribute("data-sandbox-id", f.sandbox || "");
      this.setStatus("Connected to your sandbox.", "ok");
    });
    d.on("state", (f) => this.onState(f));
    d.on("output", () => {
      this.outputFrames += 1;
      this.root.setAttribute("data-output-frames", String(this.outputFrames));
    });
    d.on("error", (f) => { if (f.ref === undefined) this.showError(f); });
    d.on("*", () => this.refresh());
    this.engine.onUp(() => this.refreshState());
    this.refresh();
  }

  refreshState() {
    this.socket.request("state").catch((err) => this.engine.noticeError(err));
  }

  onState(state) {
    this.lastState = state;
    const images = state.images || [];
    if (this.imageRows) {
      fill(this.imageRows, images, 3, "No images yet.", lessonImageRow);
      if (images.length) this.markStep("images");
    }
    const containers = state.containers || [];
    let current = null;
    if (this.container) {
      const name = this.container.name;
      current = containers.filter((c) => c.name === name)[0] || null;
    }
    if (!current) current = containers.filter((c) => c.state === "running")[0] || null;
    const tag = this.tag.indexOf(":") < 0 ? this.tag + ":latest" : this.tag;
    this.hasImage = images.some((i) => i.name === tag);
    this.setContainer(current);
  }

  setContainer(container) {
    this.container = container;
    this.emit("container");
    this.refresh();
  }

  setTag(tag) {
    this.tag = (tag || "").trim() || "flask-app";
    if (this.lastState) this.onState(this.lastState);
  }

  /* Bring an output pane into view in the lab column, when the lab sits
   * beside the steps (a wide screen): the learner keeps their place in the
   * text and sees the output arrive. Stacked, the page is left where it is. */
  reveal(node) {
    const side = this.root.closest(".lesson-side");
    if (node && side && getComputedStyle(side).position === "sticky") {
      node.scrollIntoView({ block: "nearest" });
    }
  }

  /* Why a build, push or compose up failed, for the learner: when the engine
   * went away meanwhile, that (the engine's own message is for an operator). */
  whyFailed(message) {
    return this.engine.check().then((down) => (down
      ? "the lab's Docker engine stopped answering. Try again once it is back." : message));
  }

  /* The learner did `action` with the lab. The server checks what actions
   * may have changed by itself; the checks panel asks it about what it
   * cannot see (opening the app). Nothing is ticked here. */
  markStep(action) {
    if (this.checks) this.checks.noticed(action);
  }

  /* The learner works on this step (they pressed one of its Try buttons). */
  focusStep(step) {
    const number = step && /^step-(\d+)$/.exec(step.id || "");
    if (this.checks && number) this.checks.focusStep(Number(number[1]));
  }

  setStatus(text, kind) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.setAttribute("data-kind", kind || "");
  }

  showError(err) {
    if (this.engine.noticeError(err)) {
      // The engine banner says what happened and that the page will recover.
      this.setStatus("That did not work: the lab's Docker engine is not answering.", "bad");
      return;
    }
    const message = (err && err.message) || "Something went wrong.";
    if (this.errorBox) {
      this.errorBox.textContent = message;
      this.errorBox.hidden = false;
      this.setStatus(err && err.status ? err.status : "That did not work:", "bad");
    } else {
      this.setStatus(message, "bad");
    }
  }

  clearError() {
    if (this.errorBox) { this.errorBox.textContent = ""; this.errorBox.hidden = true; }
  }

  refresh() {
    if (!this.panels) return;
    const open = this.socket.open;
    for (const panel of Object.values(this.panels)) panel.refresh(open);
    this.tries.refresh(open);
  }
}

function start() {
  loaded();
  const roots = document.querySelectorAll("[data-lab-panel]");
  const checkable = document.querySelector("[data-check-box]");
  if (!roots.length && !checkable) return;
  const dispatch = new Dispatch();
  const path = roots.length ? roots[0].getAttribute("data-ws-path") : null;
  const socket = new LabSocket(path, (f) => dispatch.emit(f));
  const checks = new CheckPanel(socket, dispatch, document);
  if (roots.length) {
    const streams = new Streams(socket, dispatch);
    const engine = new EngineStatus(socket, dispatch,
      Array.from(roots, (r) => r.querySelector("[data-lab-engine]")), Array.from(roots));
    roots.forEach((root) => new Lab(root, socket, dispatch, streams, engine, checks).start());
  }
  socket.connect();
  window.dockerlab = Object.assign(window.dockerlab || {}, { lab: socket, dispatch: dispatch });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
