/* panel-swarm.js - the classroom swarm: `docker service/stack/node ...`
 * and `docker kill TASK` lines of the lesson, and the live picture of the
 * learner's services (one column per node, a row per task, a Kill button on
 * each running task).
 *
 * The picture comes from `swarm` frames the server pushes while the panel
 * watches (swarm_watch, sent on every connect). One swarm action at a time:
 * create, update and stack deploy are streams (their push's lines go to the
 * swarm pane), the others are plain requests. parseSwarmLine only fills in
 * what to send; the server parses nothing of the page's and checks every
 * value it gets. The root's data-swarm-result says how the last action ended. */

import { el } from "./dom.js";
import { Pane } from "./pane.js";
import { StreamView } from "./streams.js";

const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const IMAGE = /^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_.-]+)?$/;
const TASK = /^[a-z0-9][a-z0-9_-]{0,39}\.[1-9][0-9]{0,2}$/;

/* "2s" / "1m" -> seconds, or null. */
function seconds(text) {
  const m = /^([0-9]{1,4})(s|m)?$/.exec(text || "");
  if (!m) return null;
  return parseInt(m[1], 10) * (m[2] === "m" ? 60 : 1);
}

/* Options "--name web", "--name=web" and flags; returns [options, operands] or null. */
function options(words, valued, flags) {
  const opts = {};
  const rest = [];
  for (let i = 0; i < words.length; i += 1) {
    const w = words[i];
    if (w.charAt(0) !== "-") { rest.push(w); continue; }
    const eq = w.indexOf("=");
    const key = eq > 0 ? w.slice(0, eq) : w;
    if (flags.indexOf(key) >= 0 && eq < 0) { opts[key] = true; continue; }
    if (valued.indexOf(key) < 0) return null;
    if (eq > 0) opts[key] = w.slice(eq + 1);
    else { i += 1; if (i >= words.length) return null; opts[key] = words[i]; }
  }
  return [opts, rest];
}

function service(words) {
  const sub = words[0];
  const parsed = options(words.slice(1),
    ["--name", "--replicas", "-p", "--publish", "--image", "--update-parallelism", "--update-delay"],
    ["-d", "--detach", "-q", "--quiet"]);
  if (!parsed) return null;
  const [o, rest] = parsed;
  if (sub === "create") {
    if (rest.length !== 1 || !o["--name"] || !IMAGE.test(rest[0])) return null;
    const args = { command: "create", name: o["--name"], image: rest[0] };
    if (o["--replicas"]) args.replicas = parseInt(o["--replicas"], 10);
    if (o["-p"] || o["--publish"]) args.publish = o["-p"] || o["--publish"];
    return { action: "service", args: args, stream: true };
  }
  if (sub === "ls" && !rest.length) return { action: "service", args: { command: "ls" } };
  if (sub === "ps" && rest.length === 1) return { action: "service", args: { command: "ps", name: rest[0] } };
  if (sub === "scale" && rest.length === 1) {
    const m = /^([a-z0-9_-]+)=([0-9]{1,4})$/.exec(rest[0]);
    if (!m) return null;
    return { action: "service", args: { command: "scale", name: m[1], replicas: parseInt(m[2], 10) } };
  }
  if (sub === "update" && rest.length === 1) {
    const args = { command: "update", name: rest[0] };
    if (o["--image"]) args.image = o["--image"];
    if (o["--update-parallelism"]) args.update_parallelism = parseInt(o["--update-parallelism"], 10);
    if (o["--update-delay"]) {
      args.update_delay = seconds(o["--update-delay"]);
      if (args.update_delay === null) return null;
    }
    return { action: "service", args: args, stream: true };
  }
  if (sub === "rollback" && rest.length === 1) return { action: "service", args: { command: "rollback", name: rest[0] } };
  if (sub === "rm" && rest.length === 1) return { action: "service", args: { command: "rm", name: rest[0] } };
  return null;
}

function stack(words) {
  const parsed = options(words.slice(1), ["-c", "--compose-file"], []);
  if (!parsed) return null;
  const [o, rest] = parsed;
  const sub = words[0];
  if (sub === "deploy" && rest.length === 1 && (o["-c"] || o["--compose-file"])) {
    return { action: "stack", args: { command: "deploy", name: rest[0], file: o["-c"] || o["--compose-file"] }, stream: true };
  }
  if ((sub === "ps" || sub === "rm") && rest.length === 1) return { action: "stack", args: { command: sub, name: rest[0] } };
  if (sub === "ls" && !rest.length) return { action: "stack", args: { command: "ls" } };
  return null;
}

function node(words) {
  if (words[0] === "ls" && words.length === 1) return { action: "node", args: { command: "ls" } };
  const parsed = options(words.slice(1), ["--availability"], []);
  if (words[0] !== "update" || !parsed) return null;
  const [o, rest] = parsed;
  if (rest.length !== 1 || !o["--availability"]) return null;
  return { action: "node", args: { command: "update", node: rest[0], availability: o["--availability"] } };
}

/* One lesson line -> {action, args, stream, label}, or null when the panel cannot do it. */
export function parseSwarmLine(line) {
  const m = /^\$\s+docker\s+(service|stack|node|kill|container\s+kill)\s+(.*)$/.exec(line.trim());
  if (!m || /[`|;&<>"'$\\]/.test(m[2])) return null;
  const words = m[2].trim().split(/\s+/);
  let found = null;
  if (m[1] === "service") found = service(words);
  else if (m[1] === "stack") found = stack(words);
  else if (m[1] === "node") found = node(words);
  else if (words.length === 1 && TASK.test(words[0])) found = { action: "task_kill", args: { task: words[0] } };
  if (!found) return null;
  const name = found.args.name;
  if (name !== undefined && !NAME.test(name)) return null;
  found.label = "docker " + m[1].replace(/\s+/, " ") + " " + words.join(" ");
  return found;
}

export class SwarmPanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.box = root.querySelector("[data-lab-swarm]");
    this.pane = new Pane(root.querySelector("[data-lab-pane=swarm]"));
    this.picture = root.querySelector("[data-lab-swarm-picture]");
    this.busy = false;
    this.last = null;
    this.serviceBase = root.getAttribute("data-service-base") || "/sandbox/service/";
    if (!this.box) return;
    lab.dispatch.on("_open", () => this.watch());
    lab.dispatch.on("swarm", (f) => this.draw(f));
    lab.dispatch.on("_closed", () => { this.busy = false; });
  }

  get present() { return !!this.box; }

  parse(line) { return this.present ? parseSwarmLine(line) : null; }

  watch() {
    this.lab.socket.request("swarm_watch").catch((err) => this.lab.showError(err));
  }

  run(op) {
    const lab = this.lab;
    if (this.busy) return;
    lab.clearError();
    this.pane.note("$ " + op.label);
    lab.reveal(this.pane.node);
    this.busy = true;
    lab.refresh();
    if (op.stream) {
      const view = new StreamView(this.pane, null, { onEnd: (f) => this.ended(op, f.ok, f.error) });
      lab.streams.open(op.action, op.args, view).catch((err) => this.failed(err));
      return;
    }
    lab.socket.request(op.action, op.args).then((frame) => {
      this.print(op, frame.data || {});
      this.ended(op, true);
    }, (err) => this.failed(err));
  }

  ended(op, ok, error) {
    const lab = this.lab;
    this.busy = false;
    lab.root.setAttribute("data-swarm-result", ok ? "ok" : "failed");
    if (ok) {
      lab.markStep(op.action === "task_kill" ? "service" : op.action);
      lab.setStatus("Done: " + op.label, "ok");
    } else {
      this.pane.note(op.label + " failed: " + error, "bad");
      lab.showError({ status: "That did not work:", message: error });
    }
    lab.refresh();
  }

  failed(err) {
    this.busy = false;
    this.lab.root.setAttribute("data-swarm-result", "failed");
    this.pane.note((err && err.message) || "That did not work.", "bad");
    this.lab.showError(err);
    this.lab.refresh();
  }

  /* What a plain request answered, as the CLI would print it (in short). */
  print(op, data) {
    const lines = [];
    for (const s of data.services || []) lines.push(s.name + "  " + s.running + "/" + s.replicas + "  " + s.image);
    for (const t of data.tasks || []) lines.push(t.name + "  " + t.node + "  " + t.state + "  " + t.image);
    for (const n of data.nodes || []) lines.push(n.name + "  " + n.availability);
    for (const s of data.stacks || []) lines.push(s.name + "  " + (s.services || ""));
    if (data.killed) lines.push("Killed " + data.killed + " on " + data.node);
    if (data.removed) lines.push("Removed " + [].concat(data.removed).join(", "));
    if (data.service && data.service.name) lines.push(data.service.name + ": " + data.service.replicas + " replicas");
    if (data.node && data.availability) lines.push(data.node + ": " + data.availability + " for your services");
    this.pane.add(lines.length ? lines : ["(nothing)"]);
  }

  /* The live picture: a column per node, each with that node's tasks. */
  draw(frame) {
    this.last = frame;
    if (!this.picture) return;
    this.picture.textContent = "";
    const services = frame.services || [];
    const summary = el("p", { class: "lab-swarm-services", "data-lab-swarm-services": "" },
      services.map((s) => s.name + " " + s.running + "/" + s.replicas + " (" + s.image + ")").join(", ")
      || "No services yet.");
    this.picture.appendChild(summary);
    // A service with a published port opens through the site, at one of its running tasks.
    for (const s of services.filter((x) => (x.ports || []).length && x.running)) {
      this.picture.appendChild(el("a", {
        class: "button secondary", href: this.serviceBase + encodeURIComponent(s.name) + "/",
        target: "_blank", rel: "noopener", "data-lab-service-open": s.name,
      }, "Open " + s.name));
    }
    const columns = el("div", { class: "lab-swarm-nodes" });
    for (const n of frame.nodes || []) {
      const col = el("section", { class: "lab-swarm-node", "data-node": n.name, "data-availability": n.availability });
      col.appendChild(el("h4", {}, n.name + (n.availability === "drain" ? " (drained)" : "")));
      const list = el("ul", {});
      for (const t of (frame.tasks || []).filter((x) => x.node === n.name)) {
        const item = el("li", { "data-task": t.name, "data-task-id": t.id, "data-state": t.state });
        item.appendChild(el("span", {}, t.name + " " + t.state + " " + t.image +
          (t.exit_code ? " (exit " + t.exit_code + ")" : "")));
        if (t.state === "running" && t.desired === "running") {
          const kill = el("button", { type: "button", class: "secondary danger", "data-lab-task-kill": t.name }, "Kill");
          kill.addEventListener("click", () => this.run({ action: "task_kill", args: { task: t.name }, label: "docker kill " + t.name }));
          item.appendChild(kill);
        }
        list.appendChild(item);
      }
      col.appendChild(list);
      columns.appendChild(col);
    }
    this.picture.appendChild(columns);
    this.refresh(this.lab.socket.open);
  }

  refresh(open) {
    if (!this.picture) return;
    for (const button of this.picture.querySelectorAll("button")) button.disabled = !open || this.busy;
  }
}
