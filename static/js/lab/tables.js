/* tables.js - rows of the tables that list a sandbox's objects: images,
 * containers, volumes and a compose project's services.
 *
 * Each row function takes one object of a state frame (docs/websocket.md)
 * and returns a <tr>; a page adds its own buttons through the `actions`
 * cell it passes in. Each cell carries data-label, which the phone layout
 * shows in front of the value (a table becomes one card per row). */

import { el, emptyRow, humanSize, portText } from "./dom.js";

/* Replace a table body's rows: one per item, or one saying there is none. */
export function fill(tbody, items, columns, emptyText, row) {
  tbody.textContent = "";
  if (!items.length) {
    tbody.appendChild(emptyRow(columns, emptyText));
    return;
  }
  for (const item of items) tbody.appendChild(row(item));
}

function cell(label, text, cls) {
  const attrs = { "data-label": label };
  if (cls) attrs.class = cls;
  return el("td", attrs, text);
}

/* The lesson panel's `docker images`: name, size, created. */
export function lessonImageRow(image) {
  const tr = el("tr", { "data-image": image.name });
  tr.appendChild(cell("Image", image.name, "mono"));
  const size = cell("Size", humanSize(image.size));
  size.setAttribute("data-size", String(image.size));
  tr.appendChild(size);
  const created = image.created ? new Date(image.created) : null;
  tr.appendChild(cell("Created", created ? created.toLocaleTimeString() : ""));
  return tr;
}

/* A compose project's container: service, container, state, ports. */
export function serviceRow(c) {
  const tr = el("tr", { "data-service": c.service });
  tr.appendChild(cell("Service", c.service));
  tr.appendChild(cell("Container", c.name, "mono"));
  tr.appendChild(cell("State", c.status || c.state));
  tr.appendChild(cell("Ports", (c.ports || []).map(portText).join(", "), "mono"));
  return tr;
}

/* The sandbox page's image: name, short id, size, actions. */
export function imageRow(img, actions) {
  const tr = el("tr", { "data-image": img.name });
  tr.appendChild(cell("Name", img.name, "mono"));
  tr.appendChild(cell("Id", (img.id || "").replace("sha256:", "").slice(0, 12), "mono"));
  tr.appendChild(cell("Size", humanSize(img.size)));
  tr.appendChild(actions);
  return tr;
}

/* The sandbox page's container: name, image, status badge, ports, actions. */
export function containerRow(c, actions) {
  const tr = el("tr", { "data-container": c.name });
  tr.appendChild(cell("Name", c.name, "mono"));
  tr.appendChild(cell("Image", c.image, "mono"));
  const status = cell("Status");
  status.appendChild(el("span", { class: "badge state-" + c.state }, c.status || c.state));
  tr.appendChild(status);
  const ports = cell("Ports", null, "mono");
  for (const p of c.ports || []) ports.appendChild(el("div", null, portText(p)));
  tr.appendChild(ports);
  tr.appendChild(actions);
  return tr;
}

/* The sandbox page's volume: name, the containers using it, actions. */
export function volumeRow(v, actions) {
  const tr = el("tr", { "data-volume": v.name });
  tr.appendChild(cell("Name", v.name, "mono"));
  tr.appendChild(cell("Used by", (v.used_by || []).join(", ") || "-", "mono"));
  tr.appendChild(actions);
  return tr;
}
