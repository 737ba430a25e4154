/* engine.js - what the page knows about the lab's Docker engine.
 *
 * The server's engine watcher (sandboxes/health.py) sends an "engine" frame
 * when the engine stops answering and when it is back. The page also learns
 * it from an action that fails with code "engine_unavailable"; then, since
 * the watcher may not have seen the outage, the page asks for the sandbox's
 * state every few seconds until an answer comes. While the engine is down a
 * banner says so in words for a learner; listeners registered with onUp()
 * (log follows that broke off, tables) pick up again when it is back. */

export const ENGINE_DOWN =
  "The lab's Docker engine is not answering right now. Your work is safe; this page will reconnect by itself.";
export const ENGINE_BACK = "The lab's Docker engine is answering again.";
const PROBE_MS = 3000;
const BACK_SHOWN_MS = 6000;

export class EngineStatus {
  constructor(socket, dispatch, banners, roots) {
    this.socket = socket;
    this.banners = banners.filter(Boolean);
    this.roots = roots.filter(Boolean);
    this.down = false;
    this.serverSaid = false;
    this.timer = null;
    this.upListeners = [];
    this.downWaiters = [];
    dispatch.on("engine", (f) => {
      if (f.state === "down") this.markDown(f.message, true);
      else if (f.state === "up") this.markUp(f.message);
    });
    dispatch.on("_closed", () => this.stopProbing());
    // A new connection (perhaps to a restarted server, whose watcher starts
    // afresh and stays quiet while the engine answers): find out ourselves.
    dispatch.on("hello", () => {
      if (this.down) { this.serverSaid = false; this.probe(); }
    });
  }

  /* Call fn every time the engine is back. */
  onUp(fn) { this.upListeners.push(fn); }

  /* True (and the page marks the engine down) when `err` says the engine is away. */
  noticeError(err) {
    if (!err || err.code !== "engine_unavailable") return false;
    this.markDown(null, false);
    return true;
  }

  /* Resolves true when the engine does not answer, false when it does. */
  check() {
    if (this.down) return Promise.resolve(true);
    return new Promise((resolve) => {
      // The watcher's frame may tell before the state request fails (a hung
      // engine takes long to refuse): whichever comes first decides.
      const waiter = () => resolve(true);
      this.downWaiters.push(waiter);
      const done = (down) => {
        this.downWaiters = this.downWaiters.filter((fn) => fn !== waiter);
        resolve(down);
      };
      this.socket.request("state").then(() => done(false), (err) => done(this.noticeError(err)));
    });
  }

  markDown(message, fromServer) {
    if (fromServer) this.serverSaid = true;
    if (!this.down) {
      this.down = true;
      this.show(message || ENGINE_DOWN, "bad");
      const waiters = this.downWaiters;
      this.downWaiters = [];
      waiters.forEach((fn) => fn());
    }
    if (!this.serverSaid) this.probeLater();
  }

  markUp(message) {
    if (!this.down) return;
    this.down = false;
    this.serverSaid = false;
    this.stopProbing();
    this.show(message || ENGINE_BACK, "ok");
    const shownAt = Date.now();
    this.shownAt = shownAt;
    window.setTimeout(() => { if (!this.down && this.shownAt === shownAt) this.show(null); }, BACK_SHOWN_MS);
    this.upListeners.forEach((fn) => fn());
  }

  show(text, kind) {
    for (const root of this.roots) root.setAttribute("data-engine", this.down ? "down" : "up");
    for (const banner of this.banners) {
      banner.textContent = text || "";
      banner.setAttribute("data-kind", kind || "");
      banner.hidden = !text;
    }
  }

  probeLater() {
    if (this.timer || this.serverSaid) return;
    this.timer = window.setTimeout(() => this.probe(), PROBE_MS);
  }

  probe() {
    this.timer = null;
    if (!this.down || !this.socket.open) return;
    this.socket.request("state").then(() => this.markUp(), (err) => {
      if (err && err.code === "engine_unavailable") this.probeLater();
    });
  }

  stopProbing() {
    if (this.timer) window.clearTimeout(this.timer);
    this.timer = null;
  }
}
