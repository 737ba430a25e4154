/* chart.js - horizontal bar charts, drawn by our own small module.
 *
 * A chart is a <figure>: a caption, a legend when bars are stacked, and one
 * row per bar. A row is its label and its value written out as text (HTML,
 * so it stays readable at any zoom, on a phone or a projector, and screen
 * readers read it), with an SVG bar between them whose length is the value
 * on the chart's scale. Bars share one linear scale, from zero to the largest
 * value (or spec.max). A bar may be stacked from segments; each segment's
 * class gives its colour, and the legend names it.
 *
 * Text only ever enters the page through textContent (dom.js): labels and
 * values may come from the server. */

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1000; // the bar's drawing width, stretched to the row's width
const HEIGHT = 24;
const MIN_VISIBLE = 3; // a value above zero never disappears entirely

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

/* One bar: its segments side by side, scaled to `max`. */
function bar(row, max) {
  const box = svg("svg", {
    class: "chart-bar", viewBox: "0 0 " + WIDTH + " " + HEIGHT,
    preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false",
  });
  box.appendChild(svg("rect", { class: "chart-track", x: 0, y: 0, width: WIDTH, height: HEIGHT }));
  const segments = row.segments && row.segments.length
    ? row.segments : [{ name: row.label, value: row.value, cls: row.cls || "c0" }];
  let x = 0;
  for (const segment of segments) {
    if (!(segment.value > 0) || !(max > 0)) continue;
    const width = Math.max(MIN_VISIBLE, (segment.value / max) * WIDTH);
    const rect = svg("rect", {
      class: "chart-seg " + (segment.cls || "c0"), x: x, y: 0,
      width: Math.min(width, WIDTH - x), height: HEIGHT,
    });
    const title = svg("title");
    title.textContent = segment.name + (segment.text ? ": " + segment.text : "");
    rect.appendChild(title);
    box.appendChild(rect);
    x = Math.min(WIDTH, x + width);
  }
  return box;
}

/* Replace `node`'s content with a chart. spec:
 *   caption: text above the bars;
 *   rows: [{key, label, value, text, note?, cls?, segments?: [{name, value, text?, cls}]}],
 *     `text` is the value as the page writes it ("511.7 MB");
 *   legend: [{name, cls}] (optional);
 *   max: the scale's end (default: the largest value);
 *   mono: labels in the monospace font (image names, commands).
 * Returns the <figure>. */
export function drawBars(node, spec) {
  const rows = spec.rows || [];
  const max = spec.max || Math.max(0, ...rows.map((r) => r.value || 0));
  const figure = el("figure", { class: "chart", "data-chart": spec.name || "", "data-bars": String(rows.length) });
  if (spec.caption) figure.appendChild(el("figcaption", null, spec.caption));
  if (spec.legend && spec.legend.length) {
    const legend = el("ul", { class: "chart-legend" });
    for (const item of spec.legend) {
      const li = el("li");
      li.appendChild(el("span", { class: "chart-swatch " + item.cls, "aria-hidden": "true" }));
      li.appendChild(document.createTextNode(item.name));
      legend.appendChild(li);
    }
    figure.appendChild(legend);
  }
  const list = el("ol", { class: "chart-rows" });
  for (const row of rows) {
    const li = el("li", { class: "chart-row", "data-bar": row.key, "data-value": String(row.value) });
    li.appendChild(el("span", { class: "chart-label" + (spec.mono ? " mono" : "") }, row.label));
    li.appendChild(bar(row, max));
    li.appendChild(el("span", { class: "chart-value" }, row.text));
    if (row.note) li.appendChild(el("span", { class: "chart-note" }, row.note));
    if (row.segments && row.segments.length > 1) {
      // The parts in words, for whoever cannot see the colours.
      const parts = row.segments.filter((s) => s.value > 0).map((s) => s.name + " " + s.text);
      li.appendChild(el("span", { class: "chart-parts" }, parts.join(" + ")));
    }
    list.appendChild(li);
  }
  figure.appendChild(list);
  node.textContent = "";
  node.appendChild(figure);
  return figure;
}

/* 1234.5 -> "1235 ms"; 0.4 -> "0.4 ms"; for values in milliseconds. */
export function ms(value) {
  if (typeof value !== "number") return "";
  return (value >= 100 ? String(Math.round(value)) : value.toFixed(1)) + " ms";
}

/* Seconds written for people: "0.125 s", "44.2 s", "96.9 s". */
export function seconds(value) {
  if (typeof value !== "number") return "";
  return (value < 1 ? value.toFixed(3) : value.toFixed(1)) + " s";
}
