/* results.js - one evaluation's check results as a list (as _results.html draws them). */

import { el } from "./http.js";

export function drawResults(container, results, passed) {
  container.replaceChildren();
  if (passed !== undefined) {
    container.append(el("p", "check-summary " + (passed ? "passed" : "failed"),
      passed ? "All checks passed: done!" : "Not yet:"));
  }
  const list = el("ul", "check-results");
  for (const result of results) {
    const item = el("li", result.passed ? "passed" : "failed");
    const mark = el("span", "check-mark", result.passed ? "✓" : "✗");
    mark.setAttribute("aria-hidden", "true");
    item.append(mark, el("span", "visually-hidden", result.passed ? "Passed:" : "Failed:"));
    item.append(el("span", "check-description", result.description));
    item.append(el("span", "check-reason", result.reason));
    if (result.hint && !result.passed) item.append(el("span", "check-hint", "Hint: " + result.hint));
    list.append(item);
  }
  container.append(list);
}
