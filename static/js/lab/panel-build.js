/* panel-build.js - `docker build [-f FILE] [-t TAG] .` of the sample app:
 * the Build button, the Dockerfile picker and editor, --no-cache, the
 * progress bar and the build output pane.
 *
 * Build sends the editor's text only when it differs from the sample's own
 * Dockerfile (which the server builds by default). The root's data-build-*
 * attributes (result, frames) say how the last build went. */

import { Pane } from "./pane.js";
import { Progress, StreamView } from "./streams.js";

export class BuildPanel {
  constructor(lab) {
    this.lab = lab;
    const root = lab.root;
    this.button = root.querySelector('[data-lab-do="build"]');
    this.pane = new Pane(root.querySelector("[data-lab-pane=build]"));
    this.stepText = root.querySelector("[data-lab-step-text]");
    this.progress = new Progress(root.querySelector("[data-lab-progress]"), this.stepText);
    this.dockerfile = root.querySelector("[data-lab-dockerfile]");
    this.noCache = root.querySelector("[data-lab-nocache]");
    this.sampleSelect = root.querySelector("[data-lab-sample]");
    this.tagInput = root.querySelector("[data-lab-tag]");
    const samples = document.getElementById("lab-samples");
    this.samples = samples ? JSON.parse(samples.textContent) : {};
    this.stream = null; // "pending" from the click to build.start
    this.frames = 0;
    if (this.button) this.button.addEventListener("click", () => this.build());
    const reset = root.querySelector("[data-lab-dockerfile-reset]");
    if (reset && this.dockerfile) {
      reset.addEventListener("click", () => { this.dockerfile.value = this.dockerfile.defaultValue; });
    }
    if (this.sampleSelect) {
      this.sampleSelect.addEventListener("change", () => this.chooseSample(this.sampleSelect.value));
    }
    if (this.tagInput) this.tagInput.addEventListener("input", () => lab.setTag(this.tagInput.value));
    lab.dispatch.on("_closed", () => { this.stream = null; });
  }

  get busy() { return !!this.stream; }

  args() {
    const args = { tag: this.lab.tag };
    const standard = this.samples.Dockerfile !== undefined ? this.samples.Dockerfile
      : (this.dockerfile ? this.dockerfile.defaultValue : "");
    if (this.dockerfile && this.dockerfile.value !== standard) args.dockerfile = this.dockerfile.value;
    if (this.noCache && this.noCache.checked) args.no_cache = true;
    if (this.lab.panels.app) Object.assign(args, this.lab.panels.app.args());
    return args;
  }

  build() {
    const lab = this.lab;
    lab.clearError();
    this.pane.clear();
    this.frames = 0;
    lab.root.setAttribute("data-build-frames", "0");
    lab.root.removeAttribute("data-build-result");
    lab.setStatus("Starting the build…", "busy");
    lab.reveal(this.pane.node);
    this.stream = "pending";
    lab.refresh();
    lab.streams.open("build", this.args(), this.view()).catch((err) => {
      this.stream = null;
      lab.showError(err);
      lab.refresh();
    });
  }

  view() {
    const lab = this.lab;
    return new StreamView(this.pane, this.progress, {
      onStart: (f) => {
        this.stream = f.stream;
        lab.setStatus("Building " + f.tag + (f.steps ? " (" + f.steps + " steps)…" : "…"), "busy");
      },
      onStep: (f) => lab.setStatus(f.text, "busy"),
      onOutput: () => {
        this.frames += 1;
        lab.root.setAttribute("data-build-frames", String(this.frames));
      },
      onEnd: (f) => this.done(f),
      onDropped: () => {
        this.pane.note("The connection to the lab was lost during the build; it may still " +
          "finish on the server, and your images will show it.", "warn");
      },
    });
  }

  done(frame) {
    const lab = this.lab;
    this.stream = null;
    lab.root.setAttribute("data-build-result", frame.ok ? "ok" : "failed");
    if (frame.ok) {
      this.pane.note("Built " + frame.image + ".", "ok");
      lab.markStep("build");
      lab.setStatus("Built " + frame.image + ".", "ok");
      lab.refresh();
      return;
    }
    this.pane.node.classList.add("failed");
    const at = this.stepText.textContent;
    const where = at ? " (at " + at.toLowerCase() + ")" : "";
    this.stepText.textContent += " - failed";
    lab.refresh();
    lab.whyFailed(frame.error).then((error) => {
      this.pane.note("Build failed" + where + ": " + error, "bad");
      lab.showError({ status: "Build failed" + where + ".", message: error });
    });
  }

  chooseSample(name) {
    const text = this.samples[name];
    if (text === undefined || !this.dockerfile) return;
    this.dockerfile.defaultValue = text;
    this.dockerfile.value = text;
  }

  refresh(open) {
    if (this.button) this.button.disabled = !(open && !this.stream);
  }
}
