/* dom.js - small DOM helpers shared by every lab script.
 *
 * Text only ever enters the page through textContent: what containers and
 * the engine print is text, never HTML. */

/* A new element with attributes ("class" sets className) and text. */
export function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/* A table body's only row when there is nothing to list. */
export function emptyRow(columns, text) {
  const row = el("tr");
  row.appendChild(el("td", { colspan: String(columns), class: "muted" }, text));
  return row;
}

/* 131234567 -> "131.2 MB" (powers of 1000, as docker images prints them). */
export function humanSize(bytes) {
  if (typeof bytes !== "number") return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i += 1; }
  return (i ? bytes.toFixed(1) : String(bytes)) + " " + units[i];
}

/* "5002 → 127.0.0.1:49153" for each published port. */
export function portText(port) {
  return port.container + " → 127.0.0.1:" + port.host;
}
