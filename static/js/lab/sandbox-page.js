/* sandbox-page.js - the sandbox page ([data-sandbox-page]): every image,
 * container and volume of the learner's sandbox, with Inspect, Stop,
 * Remove and Prune; the page's entry script, loaded as a module.
 *
 * It redraws from every state frame, including those a lesson tab's actions
 * cause (the server sends them to every socket of the learner). The root's
 * data-state-updates counts the redraws. */

import { el, humanSize } from "./dom.js";
import { Dispatch } from "./dispatch.js";
import { EngineStatus } from "./engine.js";
import { loaded } from "./loaded.js";
import { LabSocket } from "./socket.js";
import { containerRow, fill, imageRow, volumeRow } from "./tables.js";

class SandboxPage {
  constructor(root, socket, dispatch, engine) {
    this.root = root;
    this.socket = socket;
    this.engine = engine;
    this.appBase = root.getAttribute("data-app-base") || "/sandbox/app/";
    this.status = root.querySelector("[data-lab-status]");
    this.images = root.querySelector("[data-sandbox-images]");
    this.containers = root.querySelector("[data-sandbox-containers]");
    this.volumes = root.querySelector("[data-sandbox-volumes]");
    this.inspectBox = root.querySelector("[data-sandbox-inspect]");
    this.errorBox = root.querySelector("[data-lab-error]");
    const prune = root.querySelector("[data-sandbox-prune]");
    if (prune) prune.addEventListener("click", () => this.prune());
    dispatch.on("_open", () => {
      this.setStatus("Opening your sandbox…", "");
      this.refreshState();
    });
    dispatch.on("_closed", () => this.setStatus("Connection lost; reconnecting…", "bad"));
    dispatch.on("_refused", (frame) => this.setStatus(frame.code === 4429
      ? "Too many lab tabs are open: close one, then reload this page."
      : "Sign in to see your sandbox.", "bad"));
    dispatch.on("hello", (f) => {
      this.root.setAttribute("data-sandbox-id", f.sandbox || "");
      this.setStatus("Connected to your sandbox.", "ok");
    });
    dispatch.on("state", (f) => this.render(f));
    dispatch.on("error", (f) => { if (f.ref === undefined) this.fail(f); });
    engine.onUp(() => this.refreshState());
  }

  refreshState() {
    this.socket.request("state").catch((err) => this.engine.noticeError(err));
  }

  setStatus(text, kind) {
    this.status.textContent = text;
    this.status.setAttribute("data-kind", kind || "");
  }

  fail(err) {
    if (this.engine.noticeError(err)) {
      this.setStatus("That did not work: the lab's Docker engine is not answering.", "bad");
      return;
    }
    this.errorBox.textContent = (err && err.message) || "Something went wrong.";
    this.errorBox.hidden = false;
    this.setStatus("That did not work:", "bad");
  }

  run(action, args, done) {
    this.errorBox.hidden = true;
    return this.socket.request(action, args).then((frame) => { if (done) done(frame); }, (err) => this.fail(err));
  }

  button(label, onClick, cls) {
    const b = el("button", { type: "button", class: cls || "secondary" }, label);
    b.addEventListener("click", onClick);
    return b;
  }

  inspect(kind, name) {
    this.run("inspect", { kind: kind, name: name }, (frame) => {
      const id = "inspect-" + kind + "-" + name;
      const old = this.inspectBox.querySelector('[data-inspect-id="' + CSS.escape(id) + '"]');
      if (old) old.remove();
      const details = el("details", { class: "inspect", "data-inspect-id": id, open: "" });
      details.appendChild(el("summary", null, kind + " " + name));
      details.appendChild(el("pre", null, JSON.stringify(frame.data, null, 2)));
      this.inspectBox.prepend(details);
      this.inspectBox.hidden = false;
    });
  }

  prune() {
    const ok = window.confirm(
      "Remove every stopped container and every untagged image in your sandbox? This cannot be undone.");
    if (!ok) return;
    this.run("prune", {}, (frame) => {
      const d = frame.data || {};
      this.setStatus("Pruned " + (d.containers || 0) + " containers and " + (d.images || 0) +
        " images, reclaimed " + humanSize(d.space_reclaimed || 0) + ".", "ok");
    });
  }

  /* An action button that says what it did once the server agrees. */
  doing(label, action, args, said, cls) {
    return this.button(label, () => this.run(action, args, () => this.setStatus(said, "ok")), cls);
  }

  imageActions(img) {
    const cell = el("td", { class: "actions" });
    cell.appendChild(this.button("Inspect", () => this.inspect("image", img.name)));
    cell.appendChild(this.doing("Remove", "rmi", { image: img.name }, "Removed " + img.name + ".", "danger"));
    return cell;
  }

  containerActions(c) {
    const cell = el("td", { class: "actions" });
    if (c.state === "running" && c.ports && c.ports.length) {
      cell.appendChild(el("a", {
        class: "button secondary", href: this.appBase + encodeURIComponent(c.name) + "/",
        target: "_blank", rel: "noopener",
      }, "Open app"));
    }
    cell.appendChild(this.button("Inspect", () => this.inspect("container", c.name)));
    if (c.state === "running") {
      cell.appendChild(this.doing("Stop", "stop", { container: c.name }, "Stopped " + c.name + "."));
    }
    cell.appendChild(this.doing("Remove", "remove", { container: c.name }, "Removed " + c.name + ".", "danger"));
    return cell;
  }

  volumeActions(v) {
    const cell = el("td", { class: "actions" });
    const remove = this.doing("Remove", "volume_rm", { volume: v.name }, "Removed volume " + v.name + ".", "danger");
    if ((v.used_by || []).length) {
      remove.disabled = true;
      remove.title = "In use: remove its container first";
    }
    cell.appendChild(remove);
    return cell;
  }

  render(state) {
    fill(this.images, state.images || [], 4, "No images yet. Build one from a lesson.",
      (img) => imageRow(img, this.imageActions(img)));
    fill(this.containers, state.containers || [], 5, "No containers.",
      (c) => containerRow(c, this.containerActions(c)));
    if (this.volumes) {
      fill(this.volumes, state.volumes || [], 3, "No volumes.", (v) => volumeRow(v, this.volumeActions(v)));
    }
    const updates = Number(this.root.getAttribute("data-state-updates") || 0) + 1;
    this.root.setAttribute("data-state-updates", String(updates));
  }
}

function start() {
  loaded();
  const root = document.querySelector("[data-sandbox-page]");
  if (!root) return;
  const dispatch = new Dispatch();
  const socket = new LabSocket(root.getAttribute("data-ws-path"), (f) => dispatch.emit(f));
  const engine = new EngineStatus(socket, dispatch, [root.querySelector("[data-lab-engine]")], [root]);
  new SandboxPage(root, socket, dispatch, engine);
  socket.connect();
  window.dockerlab = Object.assign(window.dockerlab || {}, { lab: socket, dispatch: dispatch });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
