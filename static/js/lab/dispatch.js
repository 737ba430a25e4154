/* dispatch.js - the table from a frame's type to the handlers that want it.
 *
 * Panels register what they handle (`on("compose.done", fn)`); nothing
 * else decides who sees a frame. A handler may also register a pattern:
 * "*.start" gets every "<kind>.start" frame (build, compose, push, pull,
 * logs and whatever stream kind comes next), and "*" gets every frame,
 * after the handlers of its own type. A handler that throws is reported
 * on the console and does not keep the frame from the others. */

export class Dispatch {
  constructor() {
    this.table = new Map();
  }

  on(type, handler) {
    if (!this.table.has(type)) this.table.set(type, []);
    this.table.get(type).push(handler);
    return this;
  }

  emit(frame) {
    const type = String(frame.type);
    const keys = [type];
    const dot = type.lastIndexOf(".");
    if (dot > 0) keys.push("*" + type.slice(dot));
    keys.push("*");
    for (const key of keys) {
      for (const handler of this.table.get(key) || []) {
        try {
          handler(frame);
        } catch (err) {
          console.error("lab: a handler of " + type + " failed", err);
        }
      }
    }
  }
}
