/* panel-timing.js - the VMs-vs-containers lesson's start timing: the `timing`
 * action starts N containers on the server, one after the other, and answers
 * with each run's phases (create, start, first output) in milliseconds.
 *
 * Two charts: the runs, each bar stacked from its phases; and the runs'
 * median beside virtual machine boot times that sources have published
 * (the server sends them with their sources; none is measured here), on one
 * scale in seconds. The root's data-timing-runs says how many runs the last
 * chart shows. */

import { drawBars, ms, seconds } from "./chart.js";
import { el } from "./dom.js";

const PHASES = [
  ["create_ms", "create", "c1"],
  ["start_ms", "start", "c2"],
  ["output_ms", "first output", "c3"],
];

export class TimingPanel {
  constructor(lab) {
    this.lab = lab;
    this.box = lab.root.querySelector("[data-lab-timing]");
    this.busy = false;
    if (!this.box) return;
    this.button = this.box.querySelector("[data-lab-timing-run]");
    this.runs = this.box.querySelector("[data-lab-timing-runs]");
    this.chart = this.box.querySelector("[data-lab-timing-chart]");
    this.summary = this.box.querySelector("[data-lab-timing-summary]");
    this.vms = this.box.querySelector("[data-lab-timing-vms]");
    this.button.addEventListener("click", () => this.measure());
    this.runs.addEventListener("change", () => this.label());
    this.label();
    lab.dispatch.on("_closed", () => { this.busy = false; });
  }

  label() {
    this.button.textContent = "Time " + this.runs.value + " container starts";
  }

  measure() {
    const lab = this.lab;
    if (this.busy) return;
    lab.clearError();
    this.busy = true;
    lab.refresh();
    const runs = parseInt(this.runs.value, 10);
    lab.setStatus("Starting " + runs + " containers, one after the other…", "busy");
    lab.reveal(this.box);
    lab.socket.request("timing", { runs: runs }).then((frame) => {
      this.busy = false;
      this.show(frame.data);
      lab.setStatus("Timed " + frame.data.runs.length + " container starts.", "ok");
      lab.refresh();
    }, (err) => {
      this.busy = false;
      lab.showError(err);
      lab.refresh();
    });
  }

  show(data) {
    const runs = data.runs || [];
    this.box.setAttribute("data-timing-runs", String(runs.length));
    drawBars(this.chart, {
      name: "starts",
      caption: "Measured here: " + data.command + " in " + data.image + ", per run",
      legend: PHASES.map(([, name, cls]) => ({ name: name, cls: cls })),
      rows: runs.map((run) => ({
        key: "run-" + run.run, label: "Run " + run.run, value: run.total_ms, text: ms(run.total_ms),
        segments: PHASES.map(([field, name, cls]) => ({
          name: name, value: run[field], text: ms(run[field]), cls: cls,
        })),
      })),
    });
    let text = "";
    if (data.median_total_ms !== null) {
      text = "Median: " + ms(data.median_total_ms) + " from asking for a container to its first " +
        "line of output, on this server, now (removing it took about " + ms(this.medianRemove(runs)) + ").";
    }
    if (data.skipped) text += " " + data.skipped + " runs were skipped: the timing stops after " + data.budget_seconds + " s.";
    this.summary.textContent = text;
    this.compare(data);
  }

  medianRemove(runs) {
    const values = runs.map((r) => r.remove_ms).sort((a, b) => a - b);
    return values.length ? values[Math.floor((values.length - 1) / 2)] : 0;
  }

  compare(data) {
    if (data.median_total_ms === null) { this.vms.textContent = ""; return; }
    const median = data.median_total_ms / 1000;
    const rows = [{
      key: "container", label: "A container here (median of " + data.runs.length + " runs, measured)",
      value: median, text: seconds(median), cls: "c0",
    }];
    (data.vm_boots || []).forEach((boot, i) => {
      rows.push({
        key: "vm-" + i, label: boot.label, value: boot.seconds, text: seconds(boot.seconds),
        note: boot.note + ". Source: " + boot.source, cls: "c4",
      });
    });
    const figure = drawBars(this.vms, {
      name: "vms", rows: rows,
      caption: "Beside virtual machine boot times others have published (cited, not measured here)",
    });
    const times = Math.round((data.vm_boots || []).reduce((m, b) => Math.max(m, b.seconds), 0) / median);
    if (times > 1) {
      figure.appendChild(el("p", { class: "muted" }, "The slowest VM figure above is about " + times +
        " times this container start. Cloud VMs have become quicker since 2012, and a microVM " +
        "like Firecracker's boots in a fraction of a second: the gap is about booting a whole " +
        "operating system, not about virtualisation itself."));
    }
  }

  refresh(open) {
    if (this.button) this.button.disabled = !(open && !this.busy);
  }
}
