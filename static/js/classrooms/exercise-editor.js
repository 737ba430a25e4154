/* exercise-editor.js - the exercise editor's check rows, and "Try these checks".
 *
 * The checks travel as JSON in the form's `checks` textarea (which works
 * without this script). Here they are drawn as one row per check, built
 * from the vocabulary the page carries (#check-vocabulary: each check's
 * parameters with their kinds, bounds, choices and docs): a select for the
 * check, a field per parameter. Every change writes the JSON back; editing
 * the JSON redraws the rows. Values are sent as typed (a number field that
 * is not a number goes as text) so the server's schema, the one authority,
 * says what is wrong and names the field: `checks[1].with.port`, which the
 * row's field carries as data-field and is marked invalid. */

import { csrfToken, el, postJSON } from "./http.js";
import { drawResults } from "./results.js";

const form = document.querySelector("[data-editor]");
const vocabulary = JSON.parse(document.getElementById("check-vocabulary").textContent);
const byName = new Map(vocabulary.map((check) => [check.name, check]));
const json = form.querySelector("textarea[name=checks]");
const rowsBox = form.querySelector("[data-check-rows]");

/* -- values: JSON <-> what a field shows ----------------------------------------- */

function shown(param, value) {
  if (value === undefined || value === null) return "";
  if (param.kind === "list" && Array.isArray(value)) return value.join(", ");
  if (param.kind === "mapping" && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => k + "=" + v).join("\n");
  }
  return String(value);
}

function typed(param, text) {
  const raw = text.trim();
  if (raw === "") return undefined;
  if (param.kind === "integer") return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (param.kind === "number") return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  if (param.kind === "boolean") return raw === "true" ? true : raw === "false" ? false : raw;
  if (param.kind === "list") return raw.split(/[\s,]+/).filter(Boolean);
  if (param.kind === "mapping") {
    const mapping = {};
    for (const line of raw.split("\n")) {
      if (!line.trim()) continue;
      const match = line.match(/^\s*([^=:]+?)\s*[=:]\s*(.*)$/);
      if (match) mapping[match[1]] = match[2].trim();
      else mapping[line.trim()] = "";
    }
    return mapping;
  }
  return raw;
}

/* -- rows --------------------------------------------------------------------------- */

function field(param, value, path) {
  let input;
  if (param.kind === "boolean" || param.kind === "choice") {
    input = document.createElement("select");
    const options = param.kind === "boolean" ? ["true", "false"] : param.choices;
    input.append(new Option(param.required ? "(choose)" : "(not checked / default)", ""));
    for (const option of options) input.append(new Option(option, option));
    input.value = shown(param, value);
  } else if (param.kind === "mapping") {
    input = document.createElement("textarea");
    input.rows = 2;
    input.placeholder = "NAME=value, one a line";
    input.value = shown(param, value);
  } else {
    input = document.createElement("input");
    input.type = "text";
    if (param.kind === "integer" || param.kind === "number") input.inputMode = "decimal";
    if (param.kind === "list") input.placeholder = "names, separated by commas";
    input.value = shown(param, value);
  }
  input.dataset.field = path;
  input.dataset.param = param.name;
  input.spellcheck = false;
  return input;
}

function drawRow(index, raw) {
  const name = raw && typeof raw === "object" ? raw.check : undefined;
  const params = raw && typeof raw.with === "object" && raw.with ? raw.with : {};
  const check = byName.get(name);
  const row = el("fieldset", "check-row");
  row.dataset.index = String(index);
  row.append(el("legend", "", "Check " + (index + 1)));
  const head = el("div", "check-head");
  const pick = document.createElement("select");
  pick.dataset.field = "checks[" + index + "].check";
  pick.setAttribute("aria-label", "Check " + (index + 1) + ": which check");
  pick.append(new Option("(choose a check)", ""));
  for (const item of vocabulary) pick.append(new Option(item.name, item.name));
  pick.value = check ? check.name : "";
  pick.addEventListener("change", () => {
    sync();
    currentRows[index] = { check: pick.value, with: {} };
    redraw(currentRows);
    rowsBox.querySelectorAll("select[data-field$='.check']")[index].focus();
  });
  const remove = el("button", "secondary", "Remove");
  remove.type = "button";
  remove.addEventListener("click", () => {
    sync();
    currentRows.splice(index, 1);
    redraw(currentRows);
  });
  head.append(pick, remove);
  row.append(head);
  if (!check) return row;
  row.append(el("p", "check-summary", check.summary));
  const grid = el("div", "params");
  for (const param of check.params) {
    const path = "checks[" + index + "].with." + param.name;
    const input = field(param, params[param.name], path);
    input.id = "check-" + index + "-" + param.name;
    const label = el("label", param.required ? "required" : "", param.name);
    label.htmlFor = input.id;
    const cell = el("div", "param");
    const help = el("div", "help", (param.doc ? param.doc + ". " : "") + "Must be " + param.wanted + ".");
    help.id = input.id + "-help";
    input.setAttribute("aria-describedby", help.id);
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
    cell.append(input, help);
    grid.append(label, cell);
  }
  row.append(grid);
  return row;
}

let currentRows = [];

function redraw(list) {
  currentRows = list;
  rowsBox.replaceChildren(...list.map((raw, i) => drawRow(i, raw)));
  writeJSON();
}

/* The rows as the checks' JSON. */
function collect() {
  return Array.from(rowsBox.querySelectorAll(".check-row")).map((row) => {
    const check = row.querySelector("select[data-field$='.check']").value;
    const spec = byName.get(check);
    const params = {};
    if (spec) {
      for (const param of spec.params) {
        const input = row.querySelector('[data-param="' + param.name + '"]');
        const value = input ? typed(param, input.value) : undefined;
        if (value !== undefined) params[param.name] = value;
      }
    }
    return { check: check, with: params };
  });
}

function writeJSON() {
  json.value = JSON.stringify(collect(), null, 1);
}

function sync() {
  currentRows = collect();
  writeJSON();
}

function readJSON() {
  let list;
  try { list = JSON.parse(json.value || "[]"); } catch (e) { return false; }
  if (!Array.isArray(list)) return false;
  currentRows = list;
  rowsBox.replaceChildren(...list.map((raw, i) => drawRow(i, raw)));
  return true;
}

/* -- errors and trying ------------------------------------------------------------------ */

function markInvalid(path) {
  for (const input of form.querySelectorAll("[aria-invalid=true]")) input.removeAttribute("aria-invalid");
  if (!path) return;
  const target = Array.from(form.querySelectorAll("[data-field]")).find((i) => i.dataset.field === path)
    || Array.from(form.querySelectorAll("[data-field]")).find((i) => path.startsWith(i.dataset.field));
  if (target) target.setAttribute("aria-invalid", "true");
}

async function tryChecks(button) {
  sync();
  const box = form.querySelector("[data-try-results]");
  button.disabled = true;
  box.replaceChildren(el("p", "muted", "Checking your own sandbox…"));
  try {
    const answer = await postJSON(form.dataset.tryUrl, { checks: collect() }, csrfToken(form));
    if (!answer.ok) {
      const error = answer.data && answer.data.error;
      box.replaceChildren(el("p", "error", error ? error.message : "The server did not answer (" + answer.status + ")."));
      markInvalid(error && error.field);
      return;
    }
    markInvalid("");
    drawResults(box, answer.data.results);
    box.prepend(el("p", "", answer.data.passed
      ? "Every check passes in your sandbox."
      : "Some checks fail in your sandbox (as they should before the work is done):"));
  } catch (e) {
    box.replaceChildren(el("p", "error", "The network failed: try again."));
  } finally {
    button.disabled = false;
  }
}

if (form) {
  const drawn = readJSON();
  if (!drawn) form.querySelector("[data-checks-json]").open = true;
  if (drawn && currentRows.length === 0) redraw([{ check: "", with: {} }]);
  json.addEventListener("change", () => { if (readJSON()) markInvalid(""); });
  const add = form.querySelector("[data-add-check]");
  add.hidden = false;
  add.addEventListener("click", () => { sync(); redraw(currentRows.concat([{ check: "", with: {} }])); });
  const tryButton = form.querySelector("[data-try]");
  tryButton.hidden = false;
  tryButton.addEventListener("click", () => tryChecks(tryButton));
  form.addEventListener("submit", () => sync());
  markInvalid(form.dataset.errorPath || "");
}
