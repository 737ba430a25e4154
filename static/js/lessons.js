// Lesson pages: copy buttons on code blocks and quiz answers checked in place
// (kept by the server for signed-in learners, whose score is shown).
(function () {
  "use strict";

  function fallbackCopy(text) {
    // For pages served over plain HTTP to another machine, where the
    // asynchronous clipboard is not available.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "-1000px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function flash(button, label) {
    button.textContent = label;
    clearTimeout(button._reset);
    button._reset = setTimeout(function () { button.textContent = "Copy"; }, 1800);
  }

  function setUpCopyButtons(root) {
    root.querySelectorAll(".codehilite").forEach(function (block) {
      var button = block.querySelector(".copy-button");
      if (!button) {
        button = document.createElement("button");
        button.type = "button";
        button.className = "copy-button";
        button.textContent = "Copy";
        block.insertBefore(button, block.firstChild);
      }
      button.hidden = false;
      button.setAttribute("aria-label", "Copy code to the clipboard");
      button.addEventListener("click", function () {
        var code = block.querySelector("pre");
        copyText(code ? code.textContent : "").then(
          function () { flash(button, "Copied"); },
          function () { flash(button, "Press Ctrl+C"); }
        );
      });
    });
  }

  function showFeedback(form, verdictClass, verdict, explanation) {
    var box = form.querySelector(".quiz-feedback");
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "verdict " + verdictClass;
    p.textContent = verdict;
    box.appendChild(p);
    if (explanation) {
      var e = document.createElement("p");
      e.className = "explanation";
      e.textContent = explanation;
      box.appendChild(e);
    }
  }

  function showScore(score) {
    var line = document.querySelector("[data-quiz-score]");
    if (!line || !score) { return; }
    line.textContent = "Your score: " + score.correct + " of " + score.questions + " correct.";
  }

  function setUpQuiz(root) {
    root.querySelectorAll("form.quiz-question").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new FormData(form);
        if (!data.get("answer")) {
          showFeedback(form, "bad", "Pick an answer first.");
          return;
        }
        var button = form.querySelector("button[type=submit]");
        button.disabled = true;
        fetch(form.action.split("#")[0], {
          method: "POST",
          body: data,
          headers: { "Accept": "application/json" },
          credentials: "same-origin"
        })
          .then(function (response) {
            return response.json().then(function (body) { return { ok: response.ok, body: body }; });
          })
          .then(function (result) {
            if (!result.ok) {
              showFeedback(form, "bad", result.body.error || "That answer could not be checked.");
              return;
            }
            showScore(result.body.score);
            if (result.body.correct) {
              showFeedback(form, "ok", "Correct.", result.body.explanation);
            } else {
              showFeedback(form, "bad", "Not quite.", result.body.explanation);
            }
          })
          .catch(function () {
            showFeedback(form, "bad", "The answer could not be sent. Check your connection and try again.");
          })
          .finally(function () { button.disabled = false; });
      });
    });
  }

  function labControl(action) {
    var lab = document.getElementById("lab");
    if (!lab) { return null; }
    if (action === "open") { return lab.querySelector("[data-lab-open]"); }
    return lab.querySelector('[data-lab-do="' + action + '"]');
  }

  function labBeside() {
    var side = document.querySelector(".lesson-side");
    return !!side && getComputedStyle(side).position === "sticky";
  }

  function setUpStepLinks(root) {
    // A step that names one of this page's lab actions points at its control.
    if (!document.getElementById("lab")) { return; }
    root.querySelectorAll(".step[data-lab-action]").forEach(function (step) {
      var action = step.getAttribute("data-lab-action");
      var offered = (document.querySelector(".lesson") || document.body)
        .getAttribute("data-lab") || "";
      if (offered.split(" ").indexOf(action) === -1) { return; }
      var link = document.createElement("a");
      link.href = "#lab";
      link.className = "step-lab-link";
      link.textContent = "Do this in the lab";
      link.addEventListener("click", function (event) {
        var control = labControl(action);
        if (control && labBeside()) {
          // The lab is already in sight beside the steps: keep the learner's
          // place in the text, bring the control into view in the lab column.
          event.preventDefault();
          history.replaceState(null, "", "#lab");
          control.scrollIntoView({ block: "nearest" });
        }
        if (control) {
          control.classList.add("lab-highlight");
          setTimeout(function () { control.classList.remove("lab-highlight"); }, 2000);
          setTimeout(function () { control.focus({ preventScroll: true }); }, 300);
        }
      });
      step.querySelector(".step-text").appendChild(link);
    });
  }

  function start() {
    setUpCopyButtons(document);
    setUpQuiz(document);
    setUpStepLinks(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
