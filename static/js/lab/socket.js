/* socket.js - the page's one websocket to /ws/lab/ (docs/websocket.md).
 *
 * - request(action, args) sends {action, ref, ...args} and returns a promise
 *   settled by the first frame carrying that ref back (rejected by an
 *   "error" frame); the promise's `ref` property names the request, so a
 *   stream view can be bound to it before any answer arrives.
 * - Every frame goes to `deliver` (the dispatch table), after the request
 *   it answers is settled. The socket's own events arrive there too, as
 *   frames of type "_open", "_closed" (with retryIn, ms) and "_refused".
 * - A dropped connection is retried with growing, jittered delays (a whole
 *   classroom reconnecting after a server restart does not arrive at once),
 *   except after close codes 4401 (signed out) and 4429 (this learner has
 *   as many lab tabs open as they may): retrying cannot help there. */

const CLOSE_AUTH_REQUIRED = 4401;
const CLOSE_TOO_MANY_SOCKETS = 4429;
const MAX_DELAY_MS = 10000;

export class LabSocket {
  constructor(path, deliver) {
    this.path = path || "/ws/lab/";
    this.deliver = deliver;
    this.pending = new Map();
    this.counter = 0;
    this.retry = 0;
    this.refused = false;
    this.open = false;
  }

  connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + window.location.host + this.path);
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.retry = 0;
      this.deliver({ type: "_open" });
    };
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (!frame || typeof frame !== "object") return;
      this.settle(frame);
      this.deliver(frame);
    };
    ws.onclose = (event) => this.closed(event.code);
  }

  closed(code) {
    this.open = false;
    for (const waiter of this.pending.values()) {
      waiter.reject({ code: "disconnected", message: "The connection to the lab was lost." });
    }
    this.pending.clear();
    if (code === CLOSE_AUTH_REQUIRED || code === CLOSE_TOO_MANY_SOCKETS) {
      this.refused = true;
      this.deliver({ type: "_refused", code: code });
      return;
    }
    this.retry = Math.min(this.retry + 1, 6);
    const base = Math.min(MAX_DELAY_MS, 500 * Math.pow(2, this.retry));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.deliver({ type: "_closed", retryIn: delay });
    window.setTimeout(() => this.connect(), delay);
  }

  /* Resolve or reject the promise of the request a frame answers. */
  settle(frame) {
    if (frame.ref === undefined || frame.ref === null) return;
    const waiter = this.pending.get(frame.ref);
    if (!waiter) return;
    this.pending.delete(frame.ref);
    if (frame.type === "error") waiter.reject(frame);
    else waiter.resolve(frame);
  }

  request(action, args) {
    if (!this.open) {
      return Promise.reject({
        code: "disconnected", message: "Not connected to the lab yet; try again in a moment.",
      });
    }
    this.counter += 1;
    const ref = "r" + this.counter;
    const promise = new Promise((resolve, reject) => this.pending.set(ref, { resolve, reject }));
    promise.ref = ref;
    this.ws.send(JSON.stringify(Object.assign({ action: action, ref: ref }, args || {})));
    return promise;
  }
}
