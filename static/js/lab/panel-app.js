/* panel-app.js - the app.py editor of the building-images lesson: the
 * learner changes the sample app (its greeting), and the next Build sends
 * their text as the build's `app`, which replaces the sample's app.py in
 * that build's context on the server (nothing on the server is written).
 *
 * Only a changed text is sent; Reset brings back the sample's. The build
 * panel asks args() for what to add to a build request. */

export class AppPanel {
  constructor(lab) {
    this.lab = lab;
    this.box = lab.root.querySelector("[data-lab-app]");
    if (!this.box) return;
    this.editor = this.box.querySelector("[data-lab-app-file]");
    this.state = this.box.querySelector("[data-lab-app-state]");
    const reset = this.box.querySelector("[data-lab-app-reset]");
    reset.addEventListener("click", () => {
      this.editor.value = this.editor.defaultValue;
      this.said();
    });
    this.editor.addEventListener("input", () => this.said());
  }

  get changed() {
    return !!this.editor && this.editor.value !== this.editor.defaultValue;
  }

  said() {
    if (this.state) {
      this.state.textContent = this.changed ? "Your edited app.py: the next build uses it."
        : "The sample's app.py.";
    }
  }

  /* What a build request carries for app.py: nothing, or the learner's text. */
  args() {
    return this.changed ? { app: this.editor.value } : {};
  }

  refresh() {}
}
