/* The lab: talks to /ws/lab/ (protocol in docs/websocket.md) and drives the
 * lab panel on lesson pages ([data-lab-panel]) and the sandbox page
 * ([data-sandbox-page]). Output from containers is text: it only ever enters
 * the page through textContent, never as HTML. */
(function () {
  "use strict";

  var MAX_PANE_LINES = 3000;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        if (key === "class") node.className = attrs[key];
        else node.setAttribute(key, attrs[key]);
      });
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* A table body's only row when there is nothing to list. */
  function emptyRow(columns, text) {
    var row = el("tr");
    row.appendChild(el("td", { colspan: String(columns), class: "muted" }, text));
    return row;
  }

  function humanSize(bytes) {
    if (typeof bytes !== "number") return "";
    var units = ["B", "KB", "MB", "GB"];
    var i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i += 1; }
    return (i ? bytes.toFixed(1) : String(bytes)) + " " + units[i];
  }

  /* ---- the socket ------------------------------------------------------ */

  function LabSocket(path) {
    this.path = path || "/ws/lab/";
    this.handlers = [];
    this.pending = {};
    this.counter = 0;
    this.retry = 0;
    this.refused = false;
    this.open = false;
  }

  LabSocket.prototype.on = function (handler) { this.handlers.push(handler); };

  LabSocket.prototype.emit = function (frame) {
    this.handlers.forEach(function (h) { h(frame); });
  };

  LabSocket.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + this.path);
    this.ws = ws;
    ws.onopen = function () { self.open = true; self.retry = 0; self.emit({ type: "_open" }); };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      self.settle(frame);
      self.emit(frame);
    };
    ws.onclose = function (event) {
      self.open = false;
      Object.keys(self.pending).forEach(function (ref) {
        self.pending[ref].reject({ code: "disconnected", message: "The connection to the lab was lost." });
      });
      self.pending = {};
      if (event.code === 4401) { self.refused = true; self.emit({ type: "_refused" }); return; }
      self.retry = Math.min(self.retry + 1, 6);
      var delay = Math.min(10000, 500 * Math.pow(2, self.retry));
      self.emit({ type: "_closed", retryIn: delay });
      window.setTimeout(function () { self.connect(); }, delay);
    };
  };

  /* Resolve or reject the promise of the request a frame answers. */
  LabSocket.prototype.settle = function (frame) {
    if (frame.ref === undefined || frame.ref === null) return;
    var waiter = this.pending[frame.ref];
    if (!waiter) return;
    delete this.pending[frame.ref];
    if (frame.type === "error") waiter.reject(frame);
    else waiter.resolve(frame);
  };

  LabSocket.prototype.request = function (action, args) {
    var self = this;
    return new Promise(function (resolve, reject) {
      if (!self.open) {
        reject({ code: "disconnected", message: "Not connected to the lab yet; try again in a moment." });
        return;
      }
      self.counter += 1;
      var ref = "r" + self.counter;
      self.pending[ref] = { resolve: resolve, reject: reject };
      var message = Object.assign({ action: action, ref: ref }, args || {});
      self.ws.send(JSON.stringify(message));
    });
  };

  /* ---- an output pane ---------------------------------------------------- */

  function Pane(node) {
    this.node = node;
  }

  Pane.prototype.nearBottom = function () {
    var n = this.node;
    return n.scrollHeight - n.scrollTop - n.clientHeight < 40;
  };

  Pane.prototype.add = function (lines, cls) {
    if (!this.node) return;
    var stick = this.nearBottom();
    var frag = document.createDocumentFragment();
    lines.forEach(function (line) {
      frag.appendChild(el("div", { class: "line" + (cls ? " " + cls : "") }, line));
    });
    this.node.appendChild(frag);
    while (this.node.childNodes.length > MAX_PANE_LINES) this.node.removeChild(this.node.firstChild);
    if (stick) this.node.scrollTop = this.node.scrollHeight;
  };

  Pane.prototype.note = function (text, cls) { this.add([text], "note " + (cls || "")); };

  Pane.prototype.clear = function () {
    if (this.node) { this.node.textContent = ""; this.node.classList.remove("failed"); }
  };

  /* ---- the lesson lab panel ----------------------------------------------- */

  function LessonLab(root, socket) {
    this.root = root;
    this.socket = socket;
    this.appBase = root.getAttribute("data-app-base") || "/sandbox/app/";
    this.tag = root.getAttribute("data-image") || "flask-app";
    this.status = root.querySelector("[data-lab-status]");
    this.errorBox = root.querySelector("[data-lab-error]");
    this.progress = root.querySelector("[data-lab-progress]");
    this.bar = root.querySelector("[data-lab-progress] progress");
    this.stepText = root.querySelector("[data-lab-step-text]");
    this.containerBox = root.querySelector("[data-lab-container]");
    this.openLink = root.querySelector("[data-lab-open]");
    this.buildPane = new Pane(root.querySelector("[data-lab-pane=build]"));
    this.logPane = new Pane(root.querySelector("[data-lab-pane=logs]"));
    this.buildStream = null;
    this.logStream = null;
    this.container = null;
    this.hasImage = false;
    this.frames = { output: 0, build: 0 };
    this.buttons = {};
    var self = this;
    root.querySelectorAll("[data-lab-do]").forEach(function (button) {
      self.buttons[button.getAttribute("data-lab-do")] = button;
      button.addEventListener("click", function () { self.act(button.getAttribute("data-lab-do")); });
    });
    if (this.openLink) {
      this.openLink.addEventListener("click", function () { self.markStep("open"); });
    }
    this.commandPane = new Pane(root.querySelector("[data-lab-pane=command]"));
    this.commandForm = root.querySelector("[data-lab-command]");
    this.commandStream = null;
    this.commandPending = null;
    this.commandRm = false;
    if (this.commandForm) {
      this.commandRun = this.commandForm.querySelector("[data-lab-command-run]");
      this.commandImage = this.commandForm.querySelector("[data-lab-command-image]");
      this.commandText = this.commandForm.querySelector("[data-lab-command-text]");
      this.commandForm.addEventListener("submit", function (event) {
        event.preventDefault();
        self.act("command");
      });
      var typed = function () { self.commandExtra = null; };
      this.commandText.addEventListener("input", typed);
      this.commandImage.addEventListener("change", typed);
    }
    this.dockerfile = root.querySelector("[data-lab-dockerfile]");
    this.noCache = root.querySelector("[data-lab-nocache]");
    var reset = root.querySelector("[data-lab-dockerfile-reset]");
    if (reset && this.dockerfile) {
      reset.addEventListener("click", function () { self.dockerfile.value = self.dockerfile.defaultValue; });
    }
    var samples = document.getElementById("lab-samples");
    this.samples = samples ? JSON.parse(samples.textContent) : {};
    this.sampleSelect = root.querySelector("[data-lab-sample]");
    if (this.sampleSelect) {
      this.sampleSelect.addEventListener("change", function () { self.chooseSample(self.sampleSelect.value); });
    }
    this.tagInput = root.querySelector("[data-lab-tag]");
    if (this.tagInput) {
      this.tagInput.addEventListener("input", function () { self.setTag(self.tagInput.value); });
    }
    this.imageRows = root.querySelector("[data-lab-images-rows]");
    this.composePane = new Pane(root.querySelector("[data-lab-pane=compose]"));
    this.composeRows = root.querySelector("[data-lab-compose-rows]");
    this.composeProgress = root.querySelector("[data-lab-compose-progress]");
    this.composeStream = null;
    this.composeBusy = false;
    this.composeFile = root.querySelector("[data-lab-compose-file]");
    var composeReset = root.querySelector("[data-lab-compose-reset]");
    if (composeReset && this.composeFile) {
      composeReset.addEventListener("click", function () { self.composeFile.value = self.composeFile.defaultValue; });
    }
    root.querySelectorAll("[data-lab-compose-do]").forEach(function (button) {
      button.addEventListener("click", function () {
        self.compose(button.getAttribute("data-lab-compose-do"));
      });
    });
    this.lastState = null;
    this.offerTries();
    socket.on(function (frame) { self.onFrame(frame); });
    this.refreshButtons();
  }

  /* What Build sends: the Dockerfile's text unless it is the sample's own
   * Dockerfile, which the server builds by default. */
  LessonLab.prototype.buildArgs = function () {
    var args = { tag: this.tag };
    var standard = this.samples.Dockerfile !== undefined ? this.samples.Dockerfile
      : (this.dockerfile ? this.dockerfile.defaultValue : "");
    if (this.dockerfile && this.dockerfile.value !== standard) {
      args.dockerfile = this.dockerfile.value;
    }
    if (this.noCache && this.noCache.checked) args.no_cache = true;
    return args;
  };

  /* `docker run` lines of the lesson that the run form can do as written:
   * [--rm] [-d] [-i] [-t] [--name NAME] [-e NAME=value]... [-p [IP:]HOST:PORT]
   * [--network NAME] IMAGE [COMMAND...]. IMAGE is a lesson image or, for any
   * other name, one of the learner's own (the server says so if it is not). */
  LessonLab.prototype.parseRunLine = function (line) {
    var m = /^\$\s+(?:time\s+)?docker\s+(?:container\s+)?run\s+(.*)$/.exec(line.trim());
    if (!m || /[`|;&<>]/.test(m[1])) return null;
    var words = m[1].split(/\s+/);
    var result = { rm: false, name: null, image: null, command: "", env: {}, port: null, network: null };
    var value = function (w, long, short) {
      if (w === long || w === short) { i += 1; return i < words.length ? words[i] : null; }
      if (w.indexOf(long + "=") === 0) return w.slice(long.length + 1);
      return undefined;
    };
    var i = 0;
    for (; i < words.length && words[i].charAt(0) === "-"; i += 1) {
      var w = words[i];
      var v;
      if (w === "--rm") result.rm = true;
      else if (/^-[dit]+$/.test(w) || w === "--detach" || w === "--interactive" || w === "--tty") continue;
      else if ((v = value(w, "--name", null)) !== undefined) { if (!v) return null; result.name = v; }
      else if ((v = value(w, "--env", "-e")) !== undefined) {
        var eq = v ? v.indexOf("=") : -1;
        if (eq < 1) return null;
        result.env[v.slice(0, eq)] = v.slice(eq + 1);
      } else if ((v = value(w, "--publish", "-p")) !== undefined) {
        var port = v ? parseInt(v.split(":").pop().split("/")[0], 10) : NaN;
        if (!(port >= 1 && port <= 65535)) return null;
        result.port = port;
      } else if ((v = value(w, "--network", null)) !== undefined) { if (!v) return null; result.network = v; }
      else return null;
    }
    if (i >= words.length || /["'$]/.test(words.slice(0, i + 1).join(" "))) return null;
    var image = words[i];
    if (!/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_.-]+)?$/.test(image)) return null;
    result.image = image;
    var options = this.commandImage ? this.commandImage.options : [];
    for (var k = 0; k < options.length; k += 1) {
      if (image === options[k].getAttribute("data-official")) result.image = options[k].value;
    }
    result.command = words.slice(i + 1).join(" ");
    return result;
  };

  /* The docker run line the form will do, as the learner would type it. */
  LessonLab.prototype.runLine = function (args, rm) {
    var parts = ["$ docker run"];
    if (rm) parts.push("--rm");
    if (args.name) parts.push("--name " + args.name);
    Object.keys(args.env || {}).forEach(function (key) { parts.push("-e " + key + "=" + args.env[key]); });
    if (args.port) parts.push("-p 127.0.0.1:<any free port>:" + args.port);
    parts.push(args.image);
    if (args.command) parts.push(args.command);
    return parts.join(" ");
  };

  /* `docker build [-f FILE] [-t TAG] [--no-cache] .` lines of the lesson, with
   * FILE one of the sample's Dockerfiles. */
  LessonLab.prototype.parseBuildLine = function (line) {
    var m = /^\$\s+docker\s+(?:image\s+)?build\s+(.*)$/.exec(line.trim());
    if (!m || !this.sampleSelect) return null;
    var words = m[1].split(/\s+/);
    var result = { file: "Dockerfile", tag: "flask-app", noCache: false };
    for (var i = 0; i < words.length; i += 1) {
      var w = words[i];
      if ((w === "-f" || w === "--file") && i + 1 < words.length) { i += 1; result.file = words[i]; }
      else if ((w === "-t" || w === "--tag") && i + 1 < words.length) { i += 1; result.tag = words[i]; }
      else if (w === "--no-cache") result.noCache = true;
      else if (w === "." && i === words.length - 1) return this.samples[result.file] !== undefined ? result : null;
      else return null;
    }
    return null;
  };

  /* A "Try" button beside each lesson line the panel can do as written:
   * `docker run` (the command form) and `docker build` (Build). The first
   * runnable line also fills the command form. */
  LessonLab.prototype.offerTries = function () {
    var self = this;
    var add = function (pre, label, kind, go) {
      var button = el("button", { type: "button", class: "secondary lab-try", "data-lab-try": kind }, "Try: " + label);
      button.disabled = true;
      button.addEventListener("click", go);
      pre.parentNode.insertBefore(button, pre.nextSibling);
    };
    document.querySelectorAll(".step").forEach(function (step) {
      step.querySelectorAll("pre").forEach(function (pre) {
        pre.textContent.replace(/\\\n\s*/g, " ").split("\n").reverse().forEach(function (line) {
          var run = self.commandForm ? self.parseRunLine(line) : null;
          if (run) {
            add(pre, run.command || (run.name ? "run " + run.name + " (" + run.image + ")" : "run " + run.image),
              "command", function () {
              self.fillCommand(run);
              self.commandForm.scrollIntoView({ block: "nearest" });
              self.act("command");
            });
            return;
          }
          var op = self.commandForm ? self.parseImageLine(line) : null;
          if (op) {
            add(pre, op.label, "image", function () { self.imageOp(op); });
            return;
          }
          var composed = self.parseComposeLine(line);
          if (composed) {
            add(pre, "compose " + composed.label, "compose", function () {
              if (composed.logs) {
                var name = "flaskapp-" + composed.logs + "-1";
                var known = ((self.lastState || {}).containers || []).filter(function (c) {
                  return c.name === name;
                })[0];
                self.container = known || { name: name };
                self.showContainer();
                if (!self.logStream) self.act("logs");
                return;
              }
              self.compose(composed.command, composed.volumes);
            });
            return;
          }
          var build = self.parseBuildLine(line);
          if (build) {
            add(pre, "build " + (build.file === "Dockerfile" ? "" : "-f " + build.file + " ") + "-t " + build.tag,
              "build", function () {
                self.sampleSelect.value = build.file;
                self.chooseSample(build.file);
                self.tagInput.value = build.tag;
                self.setTag(build.tag);
                if (self.noCache) self.noCache.checked = build.noCache;
                self.act("build");
              });
          }
        });
      });
    });
    if (!this.commandForm) return;
    var pres = document.querySelectorAll(".step pre");
    for (var i = 0; i < pres.length; i += 1) {
      var lines = pres[i].textContent.replace(/\\\n\s*/g, " ").split("\n");
      for (var j = 0; j < lines.length; j += 1) {
        var run = this.parseRunLine(lines[j]);
        if (run && run.command) { this.fillCommand(run); return; }
      }
    }
  };

  /* `docker tag SOURCE TARGET`, `docker push IMAGE`, `docker pull IMAGE`, `docker rmi IMAGE`. */
  LessonLab.prototype.parseImageLine = function (line) {
    var m = /^\$\s+docker\s+(?:image\s+)?(tag|push|pull|rmi)\s+(\S+)(?:\s+(\S+))?\s*$/.exec(line.trim());
    if (!m) return null;
    var name = /^[a-z0-9][a-z0-9._:\/-]*$/;
    if (!name.test(m[2]) || (m[3] && !name.test(m[3]))) return null;
    if ((m[1] === "tag") !== !!m[3]) return null;
    var op = { op: m[1], label: "docker " + m[1] + " " + m[2] + (m[3] ? " " + m[3] : "") };
    if (m[1] === "tag") { op.source = m[2]; op.target = m[3]; } else { op.image = m[2]; }
    return op;
  };

  LessonLab.prototype.imageOp = function (op) {
    var self = this;
    this.clearError();
    if (this.registryStream) return;
    this.commandPane.note("$ " + op.label);
    var fail = function (err) {
      self.registryStream = null;
      self.commandPane.note(err.message || "That did not work.", "bad");
      self.showError(err);
      self.refreshButtons();
    };
    if (op.op === "tag") {
      this.socket.request("tag", { source: op.source, target: op.target }).then(function (frame) {
        self.commandPane.note("Tagged " + frame.data.source + " as " + frame.data.target + ".", "ok");
        self.markStep("tag");
        self.setStatus("Tagged " + frame.data.target + ".", "ok");
      }, fail);
    } else if (op.op === "rmi") {
      this.socket.request("rmi", { image: op.image }).then(function (frame) {
        (frame.data.untagged || []).forEach(function (t) { self.commandPane.add(["Untagged: " + t]); });
        (frame.data.deleted || []).forEach(function (d) { self.commandPane.add(["Deleted: " + d]); });
        self.markStep("rmi");
        self.setStatus("Removed " + op.image + ".", "ok");
      }, fail);
    } else {
      this.registryStream = "pending";
      this.setStatus((op.op === "push" ? "Pushing " : "Pulling ") + op.image + "…", "busy");
      this.refreshButtons();
      this.socket.request(op.op, { image: op.image }).catch(fail);
    }
  };

  /* `docker compose up [-d] [--build]`, `ps`, `down [-v]`, `logs [-f] SERVICE`. */
  LessonLab.prototype.parseComposeLine = function (line) {
    if (!this.composeRows) return null;
    var m = /^\$\s+docker\s+compose\s+(up|ps|down|logs)((?:\s+\S+)*)\s*$/.exec(line.trim());
    if (!m) return null;
    var words = m[2].trim() ? m[2].trim().split(/\s+/) : [];
    var command = m[1];
    var allowed = { up: ["-d", "--detach", "--build"], ps: ["-a", "--all"], down: ["-v", "--volumes"], logs: ["-f", "--follow"] };
    var rest = words.filter(function (w) { return allowed[command].indexOf(w) < 0; });
    if (command === "logs") {
      if (rest.length !== 1 || !/^[a-z0-9][a-z0-9_.-]*$/.test(rest[0])) return null;
      return { command: "logs", logs: rest[0], label: "logs -f " + rest[0] };
    }
    if (rest.length) return null;
    var volumes = words.indexOf("-v") >= 0 || words.indexOf("--volumes") >= 0;
    return { command: command, volumes: volumes, label: m[1] + m[2] };
  };

  LessonLab.prototype.compose = function (command, volumes) {
    var self = this;
    this.clearError();
    var fail = function (err) { self.composeBusy = false; self.showError(err); self.refreshButtons(); };
    if (this.composeBusy || this.composeStream) return;
    if (command === "up") {
      this.composePane.clear();
      this.composePane.note("$ docker compose up -d --build");
      this.setStatus("Starting the compose project…", "busy");
      this.composeStream = "pending";
      this.refreshButtons();
      var upArgs = { command: "up" };
      if (this.composeFile && this.composeFile.value !== this.composeFile.defaultValue) {
        upArgs.file = this.composeFile.value;
        this.composePane.note("(with your edited compose.yaml)");
      }
      this.socket.request("compose", upArgs).catch(function (err) {
        self.composeStream = null;
        self.composePane.note(err.message || "compose up did not start.", "bad");
        fail(err);
      });
      return;
    }
    var box = this.root.querySelector("[data-lab-compose-volumes]");
    if (volumes !== undefined && box) box.checked = volumes;
    var args = { command: command };
    if (command === "down") args.volumes = !!(box && box.checked);
    this.composePane.note("$ docker compose " + command + (args.volumes ? " -v" : ""));
    this.composeBusy = true;
    this.refreshButtons();
    this.socket.request("compose", args).then(function (frame) {
      self.composeBusy = false;
      var d = frame.data || {};
      if (command === "ps") {
        self.showServices(d.services || []);
        (d.services || []).forEach(function (c) {
          self.composePane.add([c.service + "  " + c.name + "  " + (c.status || c.state)]);
        });
        if (!(d.services || []).length) self.composePane.note("No containers of the project.");
        self.setStatus("Listed the project's containers.", "ok");
      } else {
        (d.removed || []).forEach(function (name) { self.composePane.add(["Container " + name + "  Removed"]); });
        (d.volumes || []).forEach(function (name) { self.composePane.add(["Volume " + name + "  Removed"]); });
        self.showServices([]);
        self.markStep("compose");
        self.setStatus("The compose project is down.", "ok");
      }
      self.refreshButtons();
    }, fail);
  };

  LessonLab.prototype.showServices = function (services) {
    if (!this.composeRows) return;
    var rows = this.composeRows;
    rows.textContent = "";
    if (!services.length) {
      rows.appendChild(emptyRow(4, "Not up."));
      return;
    }
    services.forEach(function (c) {
      var tr = el("tr", { "data-service": c.service });
      tr.appendChild(el("td", { "data-label": "Service" }, c.service));
      tr.appendChild(el("td", { class: "mono", "data-label": "Container" }, c.name));
      tr.appendChild(el("td", { "data-label": "State" }, c.status || c.state));
      tr.appendChild(el("td", { class: "mono", "data-label": "Ports" },
        (c.ports || []).map(function (p) { return p.container + " → 127.0.0.1:" + p.host; }).join(", ")));
      rows.appendChild(tr);
    });
    var web = services.filter(function (c) { return (c.ports || []).length && c.state === "running"; })[0];
    if (web) { this.container = web; this.showContainer(); }
  };

  LessonLab.prototype.chooseSample = function (name) {
    var text = this.samples[name];
    if (text === undefined || !this.dockerfile) return;
    this.dockerfile.defaultValue = text;
    this.dockerfile.value = text;
  };

  LessonLab.prototype.setTag = function (tag) {
    this.tag = (tag || "").trim() || "flask-app";
    if (this.lastState) this.onState(this.lastState);
  };

  LessonLab.prototype.fillCommand = function (run) {
    var select = this.commandImage;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === run.image; });
    if (!known) select.appendChild(el("option", { value: run.image, "data-own": "" }, run.image));
    select.value = run.image;
    this.commandText.value = run.command;
    this.commandForm.querySelector("[data-lab-command-rm]").checked = run.rm;
    // What the form does not show (name, -e, -p) holds until the learner
    // changes the image or the command by hand.
    this.commandExtra = { name: run.name, env: run.env, port: run.port, network: run.network };
  };

  /* Tick the lesson's first unticked step that asks for this action. */
  LessonLab.prototype.markStep = function (action) {
    var steps = document.querySelectorAll('.step[data-lab-action="' + action + '"]:not(.lab-done)');
    if (steps.length) steps[0].classList.add("lab-done");
  };

  LessonLab.prototype.setStatus = function (text, kind) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.setAttribute("data-kind", kind || "");
  };

  LessonLab.prototype.showError = function (err) {
    var message = (err && err.message) || "Something went wrong.";
    if (this.errorBox) {
      this.errorBox.textContent = message;
      this.errorBox.hidden = false;
      this.setStatus(err && err.status ? err.status : "That did not work:", "bad");
    } else {
      this.setStatus(message, "bad");
    }
  };

  LessonLab.prototype.clearError = function () {
    if (this.errorBox) { this.errorBox.textContent = ""; this.errorBox.hidden = true; }
  };

  LessonLab.prototype.refreshButtons = function () {
    var open = this.socket.open;
    var c = this.container;
    var running = !!(c && c.state === "running");
    var set = function (button, enabled) { if (button) button.disabled = !enabled; };
    set(this.buttons.build, open && !this.buildStream);
    set(this.buttons.run, open);
    set(this.buttons.logs, open && !!c);
    set(this.buttons.stop, open && running);
    set(this.buttons.remove, open && !!c);
    set(this.buttons.inspect, open && (!!c || this.hasImage));
    set(this.buttons.rmi, open && this.hasImage);
    set(this.buttons.prune, open);
    set(this.buttons.state, open);
    set(this.commandRun, open && !this.commandPending);
    var composeIdle = open && !this.composeStream && !this.composeBusy;
    this.root.querySelectorAll("[data-lab-compose-do]").forEach(function (b) { b.disabled = !composeIdle; });
    var self = this;
    document.querySelectorAll("[data-lab-try]").forEach(function (b) {
      var kind = b.getAttribute("data-lab-try");
      b.disabled = !open || (kind === "build" ? !!self.buildStream
        : kind === "compose" ? !composeIdle
        : kind === "image" ? !!self.registryStream : !!self.commandPending);
    });
    if (this.buttons.logs) this.buttons.logs.textContent = this.logStream ? "Stop following" : "Logs";
    if (this.openLink) {
      var port = running && c.ports && c.ports.length;
      if (port) {
        this.openLink.href = this.appBase + encodeURIComponent(c.name) + "/";
        this.openLink.removeAttribute("aria-disabled");
        this.openLink.classList.remove("disabled");
      } else {
        this.openLink.removeAttribute("href");
        this.openLink.setAttribute("aria-disabled", "true");
        this.openLink.classList.add("disabled");
      }
    }
  };

  LessonLab.prototype.showContainer = function () {
    if (!this.containerBox) return;
    var c = this.container;
    this.containerBox.textContent = "";
    if (!c) {
      this.containerBox.appendChild(el("span", { class: "muted" }, "No container yet."));
      return;
    }
    this.containerBox.appendChild(el("span", null, "Container "));
    this.containerBox.appendChild(el("strong", { "data-lab-container-name": "" }, c.name));
    this.containerBox.appendChild(el("span", null, " from " + c.image + ": "));
    this.containerBox.appendChild(el("span", { class: "badge state-" + c.state, "data-lab-container-state": "" }, c.status || c.state));
    (c.ports || []).forEach(function (p) {
      this.containerBox.appendChild(el("span", { class: "port" }, " port " + p.container + " → 127.0.0.1:" + p.host));
    }, this);
  };

  LessonLab.prototype.act = function (action) {
    var self = this;
    this.clearError();
    var fail = function (err) { self.showError(err); self.refreshButtons(); };
    if (action === "build") {
      this.buildPane.clear();
      this.frames.build = 0;
      this.root.setAttribute("data-build-frames", "0");
      this.root.removeAttribute("data-build-result");
      this.setStatus("Starting the build…", "busy");
      this.buildStream = "pending";
      this.refreshButtons();
      this.socket.request("build", this.buildArgs()).catch(function (err) { self.buildStream = null; fail(err); });
    } else if (action === "run") {
      this.setStatus("Starting a container from " + this.tag + "…", "busy");
      this.socket.request("run", { image: this.tag }).then(function (frame) {
        self.container = frame.data;
        self.showContainer();
        self.markStep("run");
        self.setStatus("Container " + frame.data.name + " is " + frame.data.state + ".", "ok");
        self.refreshButtons();
      }, fail);
    } else if (action === "command") {
      if (this.commandPending) return;
      var extra = this.commandExtra || {};
      var args = { image: this.commandImage.value };
      var command = this.commandText.value.trim();
      if (command) args.command = command;
      if (extra.name) args.name = extra.name;
      if (extra.env && Object.keys(extra.env).length) args.env = extra.env;
      if (extra.port) args.port = extra.port;
      else args.publish = false;
      if (this.commandStream) {
        // One follow at a time in this pane: let the previous container be.
        this.socket.request("unfollow", { stream: this.commandStream }).catch(function () {});
        this.commandStream = null;
      }
      this.commandRm = this.commandForm.querySelector("[data-lab-command-rm]").checked;
      this.commandPane.clear();
      this.commandPane.note(this.runLine(args, this.commandRm));
      if (extra.network) {
        this.commandPane.note("(--network " + extra.network + ": in the lab every container of your sandbox " +
          "joins your sandbox's own network, where names like this one's resolve.)");
      }
      this.root.removeAttribute("data-command-exit");
      this.setStatus("Starting a container from " + args.image + "…", "busy");
      this.commandPending = "starting";
      this.commandStarted = Date.now();
      this.refreshButtons();
      this.socket.request("run", args).then(function (frame) {
        self.commandPending = frame.data.name;
        self.container = frame.data;
        self.showContainer();
        self.setStatus("Container " + frame.data.name + " is " + frame.data.state + ".", "ok");
        return self.socket.request("logs", { container: frame.data.name, tail: 10000 });
      }).catch(function (err) {
        self.commandPending = null;
        self.commandPane.note(err.message || "The container did not start.", "bad");
        fail(err);
      });
    } else if (action === "logs") {
      if (this.logStream) {
        this.socket.request("unfollow", { stream: this.logStream }).catch(fail);
        return;
      }
      if (!this.container) return;
      this.logPane.clear();
      this.socket.request("logs", { container: this.container.name }).catch(fail);
    } else if (action === "inspect") {
      var kind = this.container ? "container" : "image";
      var target = this.container ? this.container.name : this.tag;
      this.socket.request("inspect", { kind: kind, name: target }).then(function (frame) {
        var box = self.root.querySelector("[data-lab-inspect]");
        if (!box) return;
        box.querySelector("summary").textContent = "docker inspect " + target;
        box.querySelector("pre").textContent = JSON.stringify(frame.data, null, 2);
        box.hidden = false;
        box.open = true;
        self.markStep("inspect");
        self.setStatus("Inspected " + kind + " " + target + ".", "ok");
      }, fail);
    } else if (action === "rmi") {
      this.setStatus("Removing image " + this.tag + "…", "busy");
      this.socket.request("rmi", { image: this.tag }).then(function () {
        self.markStep("rmi");
        self.setStatus("Removed image " + self.tag + ".", "ok");
      }, fail);
    } else if (action === "prune") {
      if (!window.confirm("Remove every stopped container and every untagged image in your sandbox?")) return;
      this.socket.request("prune").then(function (frame) {
        var d = frame.data || {};
        self.markStep("prune");
        self.setStatus("Pruned " + (d.containers || 0) + " containers and " + (d.images || 0) +
          " images, reclaimed " + humanSize(d.space_reclaimed || 0) + ".", "ok");
      }, fail);
    } else if (action === "state") {
      this.socket.request("state").then(function () { self.markStep("state"); }, fail);
    } else if (action === "stop" || action === "remove") {
      if (!this.container) return;
      var name = this.container.name;
      this.setStatus((action === "stop" ? "Stopping " : "Removing ") + name + "…", "busy");
      this.socket.request(action, { container: name }).then(function () {
        if (action === "remove") {
          self.container = null;
          self.showContainer();
        }
        self.markStep(action);
        self.setStatus((action === "stop" ? "Stopped " : "Removed ") + name + ".", "ok");
        self.refreshButtons();
      }, fail);
    }
  };

  LessonLab.prototype.onFrame = function (frame) {
    var t = frame.type;
    if (t === "_open") {
      this.setStatus("Opening your sandbox…", "");
      this.socket.request("state").catch(function () {});
    } else if (t === "_closed") {
      this.buildStream = null;
      this.logStream = null;
      this.commandStream = null;
      this.commandPending = null;
      this.composeStream = null;
      this.composeBusy = false;
      this.registryStream = null;
      this.setStatus("Connection lost; reconnecting…", "bad");
    } else if (t === "_refused") {
      this.setStatus("Sign in to use the lab.", "bad");
    } else if (t === "hello") {
      this.root.setAttribute("data-sandbox-id", frame.sandbox || "");
      this.setStatus("Connected to your sandbox.", "ok");
    } else if (t === "state") {
      this.onState(frame);
    } else if (t === "build.start") {
      this.buildStream = frame.stream;
      this.progress.hidden = false;
      this.progress.classList.remove("failed", "done");
      this.bar.max = frame.steps || 1;
      this.bar.value = 0;
      this.stepText.textContent = "";
      this.setStatus("Building " + frame.tag + (frame.steps ? " (" + frame.steps + " steps)…" : "…"), "busy");
    } else if (t === "build.step" && frame.stream === this.buildStream) {
      this.bar.max = frame.steps || this.bar.max;
      this.bar.value = Math.max(0, (frame.step || 1) - 1);
      this.stepText.textContent = "Step " + frame.step + " of " + frame.steps;
      this.buildPane.add([frame.text], "step");
      this.setStatus(frame.text, "busy");
    } else if (t === "push.start" || t === "pull.start") {
      this.registryStream = frame.stream;
      this.root.removeAttribute("data-registry-result");
    } else if ((t === "push.done" || t === "pull.done") && frame.stream === this.registryStream) {
      var verb = t === "push.done" ? "push" : "pull";
      this.registryStream = null;
      this.root.setAttribute("data-registry-result", verb + (frame.ok ? " ok" : " failed"));
      if (frame.ok) {
        this.commandPane.note((verb === "push" ? "Pushed " : "Pulled ") + frame.image + ".", "ok");
        this.markStep(verb);
        this.setStatus((verb === "push" ? "Pushed " : "Pulled ") + frame.image + ".", "ok");
      } else {
        this.commandPane.note(verb + " failed: " + frame.error, "bad");
        this.showError({ status: "docker " + verb + " failed.", message: frame.error });
      }
    } else if (t === "compose.start") {
      this.composeStream = frame.stream;
      this.composeProgress.hidden = false;
      this.composeProgress.classList.remove("failed", "done");
      this.composeBar().max = frame.steps || 1;
      this.composeBar().value = 0;
    } else if (t === "compose.step" && frame.stream === this.composeStream) {
      this.composeBar().max = frame.steps || this.composeBar().max;
      this.composeBar().value = Math.max(0, (frame.step || 1) - 1);
      this.root.querySelector("[data-lab-compose-step]").textContent = "Step " + frame.step + " of " + frame.steps;
      this.composePane.add([frame.text], "step");
      this.setStatus(frame.text + "…", "busy");
    } else if (t === "compose.done" && frame.stream === this.composeStream) {
      this.composeStream = null;
      this.root.setAttribute("data-compose-result", frame.ok ? "ok" : "failed");
      if (frame.ok) {
        this.composeBar().value = this.composeBar().max;
        this.composeProgress.classList.add("done");
        this.composePane.note("The project is up.", "ok");
        this.showServices(frame.services || []);
        this.markStep("compose");
        this.setStatus("The compose project is up.", "ok");
      } else {
        this.composeProgress.classList.add("failed");
        this.composePane.note("compose up failed: " + frame.error, "bad");
        this.showError({ status: "compose up failed.", message: frame.error });
      }
    } else if (t === "output") {
      this.onOutput(frame);
    } else if (t === "build.done" && frame.stream === this.buildStream) {
      this.buildStream = null;
      this.root.setAttribute("data-build-result", frame.ok ? "ok" : "failed");
      if (frame.ok) {
        this.bar.value = this.bar.max;
        this.progress.classList.add("done");
        this.buildPane.note("Built " + frame.image + ".", "ok");
        this.markStep("build");
        this.setStatus("Built " + frame.image + ".", "ok");
      } else {
        this.progress.classList.add("failed");
        this.buildPane.node.classList.add("failed");
        var where = this.stepText.textContent ? " (at " + this.stepText.textContent.toLowerCase() + ")" : "";
        this.buildPane.note("Build failed" + where + ": " + frame.error, "bad");
        this.stepText.textContent += " - failed";
        this.showError({ status: "Build failed" + where + ".", message: frame.error });
      }
      this.refreshButtons();
    } else if (t === "logs.start" && this.commandPending && frame.container === this.commandPending) {
      this.commandStream = frame.stream;
      this.commandContainer = frame.container;
      this.commandPending = null;
      this.markStep("command");
    } else if (t === "logs.end" && frame.stream === this.commandStream) {
      this.commandEnded(frame);
    } else if (t === "logs.start") {
      this.logStream = frame.stream;
      this.logPane.note("Following the logs of " + frame.container + "…");
      this.markStep("logs");
      this.refreshButtons();
    } else if (t === "logs.end" && frame.stream === this.logStream) {
      this.logStream = null;
      if (typeof frame.exit_code === "number") {
        this.logPane.note(frame.container + " exited with code " + frame.exit_code + ".");
        this.socket.request("state").catch(function () {});
      }
      this.logPane.note(frame.error ? "Log stream ended: " + frame.error : "No longer following the logs.");
      this.refreshButtons();
    } else if (t === "error" && frame.ref === undefined) {
      this.showError(frame);
    }
    this.refreshButtons();
  };

  LessonLab.prototype.commandEnded = function (frame) {
    var self = this;
    var name = this.commandContainer;
    this.commandStream = null;
    if (frame.error) {
      this.commandPane.note("Output stopped: " + frame.error, "bad");
    } else if (typeof frame.exit_code === "number") {
      this.root.setAttribute("data-command-exit", String(frame.exit_code));
      var ok = frame.exit_code === 0;
      var seconds = ((Date.now() - this.commandStarted) / 1000).toFixed(1);
      this.commandPane.note("Exited with code " + frame.exit_code + ", " + seconds +
        " s after you pressed Run (as your browser saw it).", ok ? "ok" : "bad");
      this.setStatus(name + " exited with code " + frame.exit_code + ".", ok ? "ok" : "bad");
      if (this.commandRm) {
        this.socket.request("remove", { container: name }).then(function () {
          self.commandPane.note("Removed " + name + " (--rm).");
        }, function (err) { self.showError(err); });
      } else {
        this.socket.request("state").catch(function () {});
      }
    } else {
      this.commandPane.note("No longer following " + name + "; it is still running.");
    }
    this.refreshButtons();
  };

  LessonLab.prototype.onOutput = function (frame) {
    this.frames.output += 1;
    this.root.setAttribute("data-output-frames", String(this.frames.output));
    var pane = null;
    if (frame.stream === this.buildStream) {
      pane = this.buildPane;
      this.frames.build += 1;
      this.root.setAttribute("data-build-frames", String(this.frames.build));
    } else if (frame.stream === this.logStream) {
      pane = this.logPane;
    } else if (frame.stream === this.commandStream || frame.stream === this.registryStream) {
      pane = this.commandPane;
    } else if (frame.stream === this.composeStream) {
      pane = this.composePane;
    }
    if (!pane) return;
    pane.add(frame.lines || []);
    if (frame.skipped) pane.note("… " + frame.skipped + " lines skipped (the page fell behind) …", "warn");
  };

  LessonLab.prototype.onState = function (state) {
    this.lastState = state;
    this.showImages(state.images || []);
    var containers = state.containers || [];
    var current = null;
    if (this.container) {
      var name = this.container.name;
      current = containers.filter(function (c) { return c.name === name; })[0] || null;
    }
    if (!current) current = containers.filter(function (c) { return c.state === "running"; })[0] || null;
    this.container = current;
    var tag = this.tag.indexOf(":") < 0 ? this.tag + ":latest" : this.tag;
    this.hasImage = (state.images || []).some(function (i) { return i.name === tag; });
    this.showContainer();
    this.refreshButtons();
  };

  LessonLab.prototype.composeBar = function () {
    return this.composeProgress.querySelector("progress");
  };

  LessonLab.prototype.showImages = function (images) {
    if (!this.imageRows) return;
    var rows = this.imageRows;
    rows.textContent = "";
    if (!images.length) {
      rows.appendChild(emptyRow(3, "No images yet."));
      return;
    }
    this.markStep("images");
    images.forEach(function (image) {
      var tr = el("tr", { "data-image": image.name });
      tr.appendChild(el("td", { class: "mono", "data-label": "Image" }, image.name));
      tr.appendChild(el("td", { "data-label": "Size", "data-size": String(image.size) }, humanSize(image.size)));
      var created = image.created ? new Date(image.created) : null;
      tr.appendChild(el("td", { "data-label": "Created" }, created ? created.toLocaleTimeString() : ""));
      rows.appendChild(tr);
    });
  };

  /* ---- the sandbox page --------------------------------------------------- */

  function SandboxPage(root, socket) {
    this.root = root;
    this.socket = socket;
    this.appBase = root.getAttribute("data-app-base") || "/sandbox/app/";
    this.status = root.querySelector("[data-lab-status]");
    this.images = root.querySelector("[data-sandbox-images]");
    this.containers = root.querySelector("[data-sandbox-containers]");
    this.volumes = root.querySelector("[data-sandbox-volumes]");
    this.inspectBox = root.querySelector("[data-sandbox-inspect]");
    this.errorBox = root.querySelector("[data-lab-error]");
    var self = this;
    var prune = root.querySelector("[data-sandbox-prune]");
    if (prune) prune.addEventListener("click", function () { self.prune(); });
    socket.on(function (frame) { self.onFrame(frame); });
  }

  SandboxPage.prototype.setStatus = function (text, kind) {
    this.status.textContent = text;
    this.status.setAttribute("data-kind", kind || "");
  };

  SandboxPage.prototype.fail = function (err) {
    var message = (err && err.message) || "Something went wrong.";
    this.errorBox.textContent = message;
    this.errorBox.hidden = false;
    this.setStatus("That did not work:", "bad");
  };

  SandboxPage.prototype.run = function (action, args, done) {
    var self = this;
    this.errorBox.hidden = true;
    return this.socket.request(action, args).then(function (frame) {
      if (done) done(frame);
    }, function (err) { self.fail(err); });
  };

  SandboxPage.prototype.button = function (label, onClick, cls) {
    var b = el("button", { type: "button", class: cls || "secondary" }, label);
    b.addEventListener("click", onClick);
    return b;
  };

  SandboxPage.prototype.inspect = function (kind, name) {
    var self = this;
    this.run("inspect", { kind: kind, name: name }, function (frame) {
      var id = "inspect-" + kind + "-" + name;
      var old = self.inspectBox.querySelector('[data-inspect-id="' + CSS.escape(id) + '"]');
      if (old) old.remove();
      var details = el("details", { class: "inspect", "data-inspect-id": id, open: "" });
      details.appendChild(el("summary", null, kind + " " + name));
      details.appendChild(el("pre", null, JSON.stringify(frame.data, null, 2)));
      self.inspectBox.prepend(details);
      self.inspectBox.hidden = false;
    });
  };

  SandboxPage.prototype.prune = function () {
    var self = this;
    var ok = window.confirm(
      "Remove every stopped container and every untagged image in your sandbox? This cannot be undone.");
    if (!ok) return;
    this.run("prune", {}, function (frame) {
      var d = frame.data || {};
      self.setStatus("Pruned " + (d.containers || 0) + " containers and " + (d.images || 0) +
        " images, reclaimed " + humanSize(d.space_reclaimed || 0) + ".", "ok");
    });
  };

  SandboxPage.prototype.onFrame = function (frame) {
    if (frame.type === "_open") {
      this.setStatus("Opening your sandbox…", "");
      this.socket.request("state").catch(function () {});
    } else if (frame.type === "_closed") {
      this.setStatus("Connection lost; reconnecting…", "bad");
    } else if (frame.type === "hello") {
      this.root.setAttribute("data-sandbox-id", frame.sandbox || "");
      this.setStatus("Connected to your sandbox.", "ok");
    } else if (frame.type === "state") {
      this.render(frame);
    } else if (frame.type === "error" && frame.ref === undefined) {
      this.fail(frame);
    }
  };

  SandboxPage.prototype.renderVolumes = function (volumes) {
    var self = this;
    if (!this.volumes) return;
    this.volumes.textContent = "";
    if (!volumes.length) {
      this.volumes.appendChild(emptyRow(3, "No volumes."));
    }
    volumes.forEach(function (v) {
      var row = el("tr", { "data-volume": v.name });
      row.appendChild(el("td", { class: "mono", "data-label": "Name" }, v.name));
      row.appendChild(el("td", { class: "mono", "data-label": "Used by" }, (v.used_by || []).join(", ") || "-"));
      var actions = el("td", { class: "actions" });
      var remove = self.button("Remove", function () {
        self.run("volume_rm", { volume: v.name }, function () { self.setStatus("Removed volume " + v.name + ".", "ok"); });
      }, "danger");
      if ((v.used_by || []).length) {
        remove.disabled = true;
        remove.title = "In use: remove its container first";
      }
      actions.appendChild(remove);
      row.appendChild(actions);
      self.volumes.appendChild(row);
    });
  };

  SandboxPage.prototype.render = function (state) {
    var self = this;
    var images = state.images || [];
    var containers = state.containers || [];
    this.images.textContent = "";
    this.containers.textContent = "";
    if (!images.length) {
      this.images.appendChild(emptyRow(4, "No images yet. Build one from a lesson."));
    }
    images.forEach(function (img) {
      var row = el("tr", { "data-image": img.name });
      row.appendChild(el("td", { class: "mono", "data-label": "Name" }, img.name));
      row.appendChild(el("td", { class: "mono", "data-label": "Id" }, (img.id || "").replace("sha256:", "").slice(0, 12)));
      row.appendChild(el("td", { "data-label": "Size" }, humanSize(img.size)));
      var actions = el("td", { class: "actions" });
      actions.appendChild(self.button("Inspect", function () { self.inspect("image", img.name); }));
      actions.appendChild(self.button("Remove", function () {
        self.run("rmi", { image: img.name }, function () { self.setStatus("Removed " + img.name + ".", "ok"); });
      }, "danger"));
      row.appendChild(actions);
      self.images.appendChild(row);
    });
    if (!containers.length) {
      this.containers.appendChild(emptyRow(5, "No containers."));
    }
    containers.forEach(function (c) {
      var row = el("tr", { "data-container": c.name });
      row.appendChild(el("td", { class: "mono", "data-label": "Name" }, c.name));
      row.appendChild(el("td", { class: "mono", "data-label": "Image" }, c.image));
      var st = el("td", { "data-label": "Status" });
      st.appendChild(el("span", { class: "badge state-" + c.state }, c.status || c.state));
      row.appendChild(st);
      var ports = el("td", { class: "mono", "data-label": "Ports" });
      (c.ports || []).forEach(function (p) {
        ports.appendChild(el("div", null, p.container + " → 127.0.0.1:" + p.host));
      });
      row.appendChild(ports);
      var actions = el("td", { class: "actions" });
      if (c.state === "running" && c.ports && c.ports.length) {
        actions.appendChild(el("a", {
          class: "button secondary", href: self.appBase + encodeURIComponent(c.name) + "/",
          target: "_blank", rel: "noopener"
        }, "Open app"));
      }
      actions.appendChild(self.button("Inspect", function () { self.inspect("container", c.name); }));
      if (c.state === "running") {
        actions.appendChild(self.button("Stop", function () {
          self.run("stop", { container: c.name }, function () { self.setStatus("Stopped " + c.name + ".", "ok"); });
        }));
      }
      actions.appendChild(self.button("Remove", function () {
        self.run("remove", { container: c.name }, function () { self.setStatus("Removed " + c.name + ".", "ok"); });
      }, "danger"));
      row.appendChild(actions);
      self.containers.appendChild(row);
    });
    this.renderVolumes(state.volumes || []);
    this.root.setAttribute("data-state-updates", String(Number(this.root.getAttribute("data-state-updates") || 0) + 1));
  };

  /* ---- start -------------------------------------------------------------- */

  function start() {
    var lessonRoots = document.querySelectorAll("[data-lab-panel]");
    var pageRoot = document.querySelector("[data-sandbox-page]");
    if (!lessonRoots.length && !pageRoot) return;
    var socket = new LabSocket((lessonRoots[0] || pageRoot).getAttribute("data-ws-path"));
    lessonRoots.forEach(function (root) { new LessonLab(root, socket); });
    if (pageRoot) new SandboxPage(pageRoot, socket);
    socket.connect();
    window.dockerlab = window.dockerlab || {};
    window.dockerlab.lab = socket;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
