/* panel-sizes.js - the multistage lesson's comparison: two images' sizes as
 * the engine reports them (each state frame's `images`), drawn side by side,
 * and their layers (`docker history`, the `history` action).
 *
 * The images compared are the section's data-images (flask-app:single and
 * flask-app:multi). Once an image's layers are known, its bar is split by
 * where the layers come from: the lesson image it was built on (and the one
 * under that), and what its own Dockerfile added. The bar's length stays the
 * engine's figure for the whole image. The root's data-sizes attribute says
 * how many of the two images are drawn. */

import { el, humanSize } from "./dom.js";
import { drawBars } from "./chart.js";

const OWN = "its own Dockerfile's layers";
const PALETTE = ["c1", "c2", "c3", "c4"];

function withTag(name) {
  return name.indexOf(":") < 0 ? name + ":latest" : name;
}

export class SizesPanel {
  constructor(lab) {
    this.lab = lab;
    this.box = lab.root.querySelector("[data-lab-sizes]");
    if (!this.box) return;
    this.names = (this.box.getAttribute("data-images") || "").split(/\s+/).filter(Boolean);
    this.chart = this.box.querySelector("[data-lab-sizes-chart]");
    this.summary = this.box.querySelector("[data-lab-sizes-summary]");
    this.layersBox = this.box.querySelector("[data-lab-layers]");
    this.images = {}; // name -> the state frame's entry
    this.layers = {}; // image id -> history data
    this.asked = {}; // image id -> true while its history is asked for
    lab.dispatch.on("state", (frame) => this.update(frame.images || []));
  }

  update(images) {
    const byName = {};
    for (const image of images) byName[image.name] = image;
    this.images = {};
    for (const name of this.names) {
      const found = byName[withTag(name)];
      if (found) this.images[name] = found;
    }
    for (const image of Object.values(this.images)) this.askLayers(image);
    this.draw();
  }

  askLayers(image) {
    if (this.layers[image.id] || this.asked[image.id]) return;
    this.asked[image.id] = true;
    this.lab.socket.request("history", { image: image.name }).then((frame) => {
      this.layers[image.id] = frame.data;
      delete this.asked[image.id];
      this.draw();
    }, () => { delete this.asked[image.id]; });
  }

  /* Bytes of an image's layers by where they come from, deepest first. */
  parts(image) {
    const data = this.layers[image.id];
    if (!data) return null;
    const totals = new Map();
    for (const row of data.rows.slice().reverse()) {
      const key = row.base || OWN;
      totals.set(key, (totals.get(key) || 0) + row.size);
    }
    return totals;
  }

  draw() {
    const shown = this.names.filter((name) => this.images[name]);
    this.box.setAttribute("data-sizes", String(shown.length));
    if (!shown.length) return;
    const colours = {};
    const colour = (key) => {
      if (key === OWN) return "c0";
      if (!colours[key]) colours[key] = PALETTE[Object.keys(colours).length % PALETTE.length];
      return colours[key];
    };
    const rows = shown.map((name) => {
      const image = this.images[name];
      const parts = this.parts(image);
      const segments = parts ? Array.from(parts, ([key, value]) => ({
        name: key === OWN ? OWN : "from " + key, value: value, text: humanSize(value), cls: colour(key),
      })) : null;
      return {
        key: name, label: name, value: image.size, text: humanSize(image.size), segments: segments,
      };
    });
    const legend = [];
    for (const row of rows) {
      for (const s of row.segments || []) {
        if (!legend.some((item) => item.name === s.name)) legend.push({ name: s.name, cls: s.cls });
      }
    }
    drawBars(this.chart, {
      name: "sizes", caption: "Image size, as the engine reports it", rows: rows, legend: legend, mono: true,
    });
    this.say(shown);
    this.drawLayers(shown);
  }

  say(shown) {
    if (shown.length < this.names.length) {
      const missing = this.names.filter((name) => !this.images[name]);
      this.summary.textContent = "Build " + missing.join(" and ") + " to compare.";
      return;
    }
    const [a, b] = this.names.map((name) => this.images[name]);
    const [big, small] = a.size >= b.size ? [a, b] : [b, a];
    const saved = big.size - small.size;
    const percent = big.size ? Math.round((saved / big.size) * 100) : 0;
    this.summary.textContent = small.name + " is " + humanSize(saved) + " smaller than " + big.name +
      " (" + percent + "% less): " + humanSize(small.size) + " against " + humanSize(big.size) + ".";
  }

  drawLayers(shown) {
    if (!this.layersBox) return;
    // Redrawn on every state frame: what the learner opened stays open.
    const open = new Set(Array.from(this.layersBox.querySelectorAll("details[open]"),
      (d) => d.getAttribute("data-layers")));
    this.layersBox.textContent = "";
    for (const name of shown) {
      const data = this.layers[this.images[name].id];
      if (!data) continue;
      const details = el("details", { class: "lab-layers", "data-layers": name });
      if (open.has(name)) details.open = true;
      details.appendChild(el("summary", null, "docker history " + name + " (" + data.rows.length + " layers)"));
      const table = el("table", { class: "sandbox-table" });
      const head = el("tr");
      for (const title of ["Created by", "Size", "From"]) head.appendChild(el("th", null, title));
      table.appendChild(el("thead")).appendChild(head);
      const body = el("tbody");
      for (const row of data.rows) {
        const tr = el("tr");
        tr.appendChild(el("td", { class: "mono", "data-label": "Created by" }, row.instruction || "(imported)"));
        tr.appendChild(el("td", { "data-label": "Size" }, humanSize(row.size)));
        tr.appendChild(el("td", { "data-label": "From" }, row.base || "its Dockerfile"));
        body.appendChild(tr);
      }
      table.appendChild(body);
      const scroll = el("div", { class: "table-scroll" });
      scroll.appendChild(table);
      details.appendChild(scroll);
      if (data.hidden) {
        details.appendChild(el("p", { class: "muted" },
          data.hidden + " LABEL steps the lab adds to every build (its own labels, 0 B) are not listed."));
      }
      this.layersBox.appendChild(details);
    }
  }

  refresh() {}
}
