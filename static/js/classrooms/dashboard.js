/* dashboard.js - a class's dashboard, kept live over /ws/class/<id>/ (docs/classrooms.md).
 *
 * The page comes rendered; this only changes cells as "progress" frames
 * arrive: the cell's state class and mark, its title and the hidden text a
 * screen reader reads (the same words), overdue (from its data-due), the
 * learner's done count and last activity. A learner who joins gets a row
 * ("member" frames), every cell not started. A dropped socket is reopened with
 * growing delays, except after 4401 (signed out) and 4404 (not a class of
 * yours any more), where retrying cannot help. */

const CLOSE_AUTH_REQUIRED = 4401;
const CLOSE_NOT_FOUND = 4404;
const LABELS = { done: "done", failing: "failing", not_started: "not started" };
const MARKS = { done: "✓", failing: "✗", not_started: "·" };

const board = document.querySelector("[data-board]");
const status = document.querySelector("[data-live-status]");
const titles = new Map();
let retry = 0;

function say(text, kind) {
  status.textContent = text;
  status.dataset.kind = kind || "";
}

function cellTitle(cell, state, reason, overdue) {
  let text = (titles.get(cell.dataset.cell) || cell.dataset.cell) + ": " + LABELS[state];
  if (overdue) text += ", overdue";
  if (state === "failing" && reason) text += ". " + reason;
  return text;
}

function when(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "—";
  return at.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function paint(cell, state, reason) {
  const due = cell.dataset.due ? new Date(cell.dataset.due) : null;
  const overdue = Boolean(due && due < new Date() && state !== "done");
  cell.className = "cell state-" + state + (overdue ? " overdue" : "");
  cell.dataset.state = state;
  const text = cellTitle(cell, state, reason, overdue);
  cell.title = text;
  cell.querySelector("[aria-hidden]").textContent = MARKS[state];
  cell.querySelector(".visually-hidden").textContent = text;
}

function update(frame) {
  const row = board.querySelector('tr[data-learner="' + Number(frame.learner) + '"]');
  if (!row) return;
  if (frame.at) {
    const last = row.querySelector("[data-last-activity]");
    last.dataset.lastActivity = frame.at;
    last.textContent = when(frame.at);
  }
  const cell = Array.from(row.querySelectorAll("td[data-cell]")).find((c) => c.dataset.cell === frame.item);
  if (!cell || !(frame.state in LABELS)) return;
  paint(cell, frame.state, frame.reason);
  void cell.offsetWidth; // restart the flash
  cell.classList.add("changed");
  const cells = row.querySelectorAll("td[data-cell]");
  const done = Array.from(cells).filter((c) => c.dataset.state === "done").length;
  row.querySelector("[data-done-count]").textContent = done + "/" + cells.length;
}

/* A row for a learner who just joined: every item not started yet. */
function addRow(frame) {
  if (board.querySelector('tr[data-learner="' + Number(frame.learner) + '"]')) return;
  const row = document.createElement("tr");
  row.dataset.learner = String(Number(frame.learner));
  const name = document.createElement("th");
  name.scope = "row";
  const link = document.createElement("a");
  link.href = frame.detail;
  link.textContent = frame.name;
  name.append(link);
  const last = document.createElement("td");
  last.className = "last-activity";
  last.dataset.lastActivity = "";
  last.textContent = "—";
  const done = document.createElement("td");
  done.className = "done-count";
  done.dataset.doneCount = "";
  const items = document.querySelectorAll("th[data-item]");
  done.textContent = "0/" + items.length;
  row.append(name, last, done);
  for (const th of items) {
    const cell = document.createElement("td");
    cell.dataset.cell = th.dataset.item;
    cell.dataset.state = "not_started";
    if (th.dataset.due) cell.dataset.due = th.dataset.due;
    cell.tabIndex = 0;
    const mark = document.createElement("span");
    mark.setAttribute("aria-hidden", "true");
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    cell.append(mark, hidden);
    row.append(cell);
    paint(cell, "not_started", "");
  }
  board.tBodies[0].append(row);
  const empty = document.querySelector("[data-no-learners]");
  if (empty) empty.hidden = true;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + window.location.host + board.dataset.wsPath);
  ws.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "hello") {
      retry = 0;
      board.dataset.live = "open";
      say("Live: changes show as they happen.", "ok");
    } else if (frame.type === "progress") {
      update(frame);
    } else if (frame.type === "member") {
      addRow(frame);
    } else if (frame.type === "error") {
      say(frame.message, "bad");
    }
  };
  ws.onclose = (event) => {
    board.dataset.live = "closed";
    if (event.code === CLOSE_AUTH_REQUIRED || event.code === CLOSE_NOT_FOUND) {
      if (event.code === CLOSE_AUTH_REQUIRED) say("Signed out: sign in again for live updates.", "bad");
      else say("This class is no longer yours to watch.", "bad");
      return;
    }
    retry = Math.min(retry + 1, 6);
    const delay = Math.round(Math.min(10000, 500 * Math.pow(2, retry)) * (0.75 + Math.random() * 0.5));
    say("Live updates lost: reconnecting… (reload for the latest state)", "bad");
    window.setTimeout(connect, delay);
  };
}

if (board && status) {
  for (const th of document.querySelectorAll("th[data-item]")) titles.set(th.dataset.item, th.dataset.itemTitle);
  connect();
}
