/* exercise.js - an assigned exercise: "Check my work", hints one at a time, the solution.
 *
 * Each button is a form that works without this script (the server answers
 * with the page); here they are sent with fetch and answered with JSON, so
 * the page stays where it is. Checking reaches the learner's sandbox on the
 * engine and can take seconds: the button says so while it waits. */

import { csrfToken, el, postJSON } from "./http.js";
import { drawResults } from "./results.js";

const page = document.querySelector("[data-exercise]");

function failure(answer) {
  if (answer.data && answer.data.error) return answer.data.error.message;
  return "The server did not answer as expected (" + answer.status + "): try again.";
}

function showState(progress) {
  const line = page.querySelector(".exercise-state");
  if (!line || !progress) return;
  line.className = "exercise-state state-" + progress.state;
  line.dataset.state = progress.state;
  if (progress.state === "done") line.textContent = "Done (" + progress.attempts + " check" + (progress.attempts === 1 ? "" : "s") + ").";
  else if (progress.state === "failing") line.textContent = "Not passed yet: " + progress.reason;
  else line.textContent = "Not checked yet.";
}

function wireCheck() {
  const form = page.querySelector("[data-check-form]");
  const outcome = page.querySelector("[data-check-outcome]");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    const label = button.textContent;
    button.textContent = "Checking your sandbox…";
    outcome.replaceChildren(el("p", "muted", "Checking your sandbox…"));
    try {
      const answer = await postJSON(page.dataset.checkUrl, {}, csrfToken(form));
      if (!answer.ok) {
        outcome.replaceChildren(el("p", "notice bad", failure(answer)));
        return;
      }
      drawResults(outcome, answer.data.results, answer.data.passed);
      showState(answer.data.progress);
    } catch (e) {
      outcome.replaceChildren(el("p", "notice bad", "The network failed: check again in a moment."));
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
}

function wireHints() {
  const form = page.querySelector("[data-hint-form]");
  const list = page.querySelector("[data-hints]");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await postJSON(page.dataset.hintUrl, {}, csrfToken(form));
    if (!answer.ok) {
      list.after(el("p", "notice bad", failure(answer)));
      return;
    }
    list.replaceChildren(...answer.data.hints.map((hint) => el("li", "", hint)));
    const left = answer.data.of - answer.data.revealed;
    if (left <= 0) form.hidden = true;
    else form.querySelector("button").textContent = "Show a hint (" + left + " left)";
  });
}

function wireSolution() {
  const form = page.querySelector("[data-solution-form]");
  const box = page.querySelector("[data-solution]");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.confirm(form.dataset.confirm)) return;
    const answer = await postJSON(page.dataset.solutionUrl, {}, csrfToken(form));
    if (!answer.ok) {
      form.after(el("p", "notice bad", failure(answer)));
      return;
    }
    box.querySelector("code").textContent = answer.data.lines.join("\n");
    box.hidden = false;
    form.hidden = true;
  });
}

if (page) {
  wireCheck();
  wireHints();
  wireSolution();
}
