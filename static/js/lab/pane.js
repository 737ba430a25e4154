/* pane.js - an output pane: lines of text, bounded, following the bottom.
 *
 * A pane keeps at most MAX_LINES lines in the page; older ones are removed
 * and one marker line at the top says how many, so a flood or a log followed
 * all day cannot grow the page without end. The pane sticks to the bottom
 * while the reader is there, and stays put when they scrolled up to read. */

import { el } from "./dom.js";

export const MAX_LINES = 2000;

export class Pane {
  constructor(node, maxLines) {
    this.node = node;
    this.max = maxLines || MAX_LINES;
    this.lines = 0;
    this.trimmed = 0;
    this.marker = null;
  }

  nearBottom() {
    const n = this.node;
    return n.scrollHeight - n.scrollTop - n.clientHeight < 40;
  }

  add(lines, cls) {
    if (!this.node || !lines.length) return;
    const stick = this.nearBottom();
    // Of a batch larger than the pane holds, only its end is ever shown.
    const skip = Math.max(0, lines.length - this.max);
    const frag = document.createDocumentFragment();
    for (let i = skip; i < lines.length; i += 1) {
      frag.appendChild(el("div", { class: "line" + (cls ? " " + cls : "") }, lines[i]));
    }
    this.node.appendChild(frag);
    this.lines += lines.length - skip;
    this.trim(skip);
    if (stick) this.node.scrollTop = this.node.scrollHeight;
  }

  note(text, cls) { this.add([text], "note " + (cls || "")); }

  clear() {
    if (!this.node) return;
    this.node.textContent = "";
    this.node.classList.remove("failed");
    this.lines = 0;
    this.trimmed = 0;
    this.marker = null;
  }

  /* Drop the oldest lines past the bound and say so in the marker. */
  trim(alreadyDropped) {
    let drop = this.lines - this.max;
    if (drop <= 0 && !alreadyDropped) return;
    if (!this.marker) {
      this.marker = el("div", { class: "line note warn", "data-pane-trimmed": "" });
      this.node.insertBefore(this.marker, this.node.firstChild);
    }
    for (; drop > 0; drop -= 1) {
      this.node.removeChild(this.marker.nextSibling);
      this.lines -= 1;
      this.trimmed += 1;
    }
    this.trimmed += alreadyDropped;
    this.marker.textContent = "… " + this.trimmed + " earlier lines trimmed (this pane keeps the last " +
      this.max + ") …";
  }
}
