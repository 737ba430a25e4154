/* follow.js - a container's log follow that outlives faults.
 *
 * A follow ends for a reason the page can tell: the container exited
 * (logs.end carries its exit code), the learner stopped it, or the server
 * said why. When it ends with none of these, the engine may have gone
 * away: the page asks (engine.js), and if so the follow waits and starts
 * again when the engine is back. When the connection to the server drops,
 * the follow starts again on the next connection. A follow that starts
 * again asks for new lines only (tail 0) and says that lines printed in
 * between may be missing.
 *
 * hooks: started(frame, resumed), ended(frame), failed(err). */

import { StreamView } from "./streams.js";

export class LogFollow {
  constructor(lab, pane, hooks) {
    this.lab = lab;
    this.pane = pane;
    this.hooks = hooks;
    this.container = null; // what the page follows (or wants to, again)
    this.stream = null; // null, "pending" until logs.start, then its stream id
    this.view = null;
    this.stopping = false;
    this.waiting = null; // "engine" or "socket" while paused
    lab.dispatch.on("hello", () => { if (this.waiting === "socket") this.resume(); });
    lab.engine.onUp(() => { if (this.waiting === "engine") this.resume(); });
  }

  /* The stream id while the server is sending this follow, else null. */
  get live() {
    return this.stream && this.stream !== "pending" ? this.stream : null;
  }

  /* Follow `container` from its last `tail` lines (the server's default if undefined). */
  start(container, tail, resumed) {
    this.container = container;
    this.stopping = false;
    this.waiting = null;
    this.stream = "pending";
    const view = new StreamView(this.pane, null, {
      onStart: (f) => { this.stream = f.stream; this.hooks.started(f, !!resumed); },
      onEnd: (f) => this.ended(view, f),
      onDropped: () => this.pause("socket"),
    });
    // Frames of a follow the page has let go of are not shown.
    const current = () => this.view === view;
    for (const method of ["start", "output", "end", "dropped"]) {
      const inner = view[method].bind(view);
      view[method] = (frame) => { if (current()) inner(frame); };
    }
    this.view = view;
    const args = { container: container };
    if (tail !== undefined) args.tail = tail;
    return this.lab.streams.open("logs", args, view).catch((err) => {
      if (!current()) return;
      this.stream = null;
      if (err && err.code === "disconnected" && resumed) { this.pause("socket"); return; }
      throw err;
    });
  }

  /* The learner stops following; logs.end will say so. */
  stop() {
    if (!this.live) return Promise.resolve();
    this.stopping = true;
    return this.lab.socket.request("unfollow", { stream: this.live });
  }

  /* Let this follow go without a word (the pane is taken for something else). */
  detach() {
    if (this.live) this.lab.socket.request("unfollow", { stream: this.live }).catch(() => {});
    this.view = null;
    this.stream = null;
    this.container = null;
    this.waiting = null;
  }

  ended(view, frame) {
    this.stream = null;
    if (this.stopping || typeof frame.exit_code === "number") {
      this.finish(frame);
      return;
    }
    // Ended by itself, or broke off with an error, while its container may
    // still run: is the engine away? Then wait for it rather than give up.
    this.lab.engine.check().then((down) => {
      if (this.view !== view || this.stream) return; // followed anew meanwhile
      if (down) this.pause("engine");
      else this.finish(frame);
    });
  }

  finish(frame) {
    this.view = null;
    this.hooks.ended(frame);
    this.container = null;
  }

  pause(why) {
    if (!this.container || this.waiting) return;
    this.stream = null;
    this.waiting = why;
    this.pane.note((why === "engine" ? "The lab's Docker engine stopped answering" :
      "The connection to the lab dropped") + "; the output of " + this.container +
      " will follow again when it is back.", "warn");
    if (this.hooks.paused) this.hooks.paused(why);
  }

  resume() {
    if (!this.container || this.stream) return;
    const name = this.container;
    this.waiting = null;
    this.pane.note("Following " + name + " again; lines it printed meanwhile may be missing.");
    this.start(name, 0, true).catch((err) => {
      // Back on the connection, but the engine is away: wait for it instead.
      if (this.lab.engine.noticeError(err)) { this.waiting = "engine"; return; }
      this.container = null;
      this.hooks.failed(err);
    });
  }
}
