/* streams.js - one view for every stream of the protocol.
 *
 * A stream is opened by a request (build, logs, push, pull, compose up);
 * its "<kind>.start" frame carries the request's ref and a stream id. The
 * router binds that id to the view that asked, then hands it the stream's
 * "<kind>.step" and "output" frames and its last frame ("<kind>.done" or
 * "logs.end"). A view is any object with some of start(frame),
 * step(frame), output(frame), end(frame) and dropped() (the connection was
 * lost before the stream ended). StreamView is the usual one: steps move a
 * progress bar and are shown as step lines, output lines go to a pane. */

export class Streams {
  constructor(socket, dispatch) {
    this.socket = socket;
    this.byRef = new Map();
    this.byId = new Map();
    dispatch.on("*.start", (f) => this.started(f));
    dispatch.on("*.step", (f) => this.pass(f, "step"));
    dispatch.on("output", (f) => this.pass(f, "output"));
    dispatch.on("*.done", (f) => this.ended(f));
    dispatch.on("*.end", (f) => this.ended(f));
    dispatch.on("_closed", () => this.dropAll());
  }

  /* Send a request that opens a stream; `view` gets the stream's frames. */
  open(action, args, view) {
    const request = this.socket.request(action, args);
    const ref = request.ref;
    if (ref !== undefined) {
      this.byRef.set(ref, view);
      request.catch(() => this.byRef.delete(ref));
    }
    return request;
  }

  started(frame) {
    const view = this.byRef.get(frame.ref);
    if (!view) return;
    this.byRef.delete(frame.ref);
    this.byId.set(frame.stream, view);
    if (view.start) view.start(frame);
  }

  pass(frame, method) {
    const view = this.byId.get(frame.stream);
    if (view && view[method]) view[method](frame);
  }

  ended(frame) {
    const view = this.byId.get(frame.stream);
    if (!view) return;
    this.byId.delete(frame.stream);
    if (view.end) view.end(frame);
  }

  /* The socket closed: the server has closed every stream it had. Requests
   * still waiting for their start are rejected by the socket instead. */
  dropAll() {
    const views = Array.from(this.byId.values());
    this.byId.clear();
    this.byRef.clear();
    for (const view of views) if (view.dropped) view.dropped();
  }
}

/* A progress bar with a "Step 3 of 7" text beside it. */
export class Progress {
  constructor(box, text) {
    this.box = box;
    this.bar = box ? box.querySelector("progress") : null;
    this.text = text;
  }

  start(steps) {
    if (!this.box) return;
    this.box.hidden = false;
    this.box.classList.remove("failed", "done");
    this.bar.max = steps || 1;
    this.bar.value = 0;
    if (this.text) this.text.textContent = "";
  }

  step(frame) {
    if (!this.box) return;
    this.bar.max = frame.steps || this.bar.max;
    this.bar.value = Math.max(0, (frame.step || 1) - 1);
    if (this.text) this.text.textContent = "Step " + frame.step + " of " + frame.steps;
  }

  finish(ok) {
    if (!this.box) return;
    if (ok) this.bar.value = this.bar.max;
    this.box.classList.add(ok ? "done" : "failed");
  }
}

/* The usual view: a pane, an optional progress bar, and hooks for the rest.
 * hooks: onStart(frame), onStep(frame), onOutput(frame), onEnd(frame), onDropped(). */
export class StreamView {
  constructor(pane, progress, hooks) {
    this.pane = pane;
    this.progress = progress || null;
    this.hooks = hooks || {};
  }

  start(frame) {
    if (this.progress) this.progress.start(frame.steps);
    if (this.hooks.onStart) this.hooks.onStart(frame);
  }

  step(frame) {
    if (this.progress) this.progress.step(frame);
    this.pane.add([frame.text], "step");
    if (this.hooks.onStep) this.hooks.onStep(frame);
  }

  output(frame) {
    this.pane.add(frame.lines || []);
    if (frame.skipped) {
      this.pane.note("… " + frame.skipped + " lines skipped (the page fell behind) …", "warn");
    }
    if (this.hooks.onOutput) this.hooks.onOutput(frame);
  }

  end(frame) {
    if (this.progress && frame.ok !== undefined) this.progress.finish(!!frame.ok);
    if (this.hooks.onEnd) this.hooks.onEnd(frame);
  }

  dropped() {
    if (this.hooks.onDropped) this.hooks.onDropped();
  }
}
