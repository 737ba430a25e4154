/* parse.js - the lesson's command lines the lab can do as written.
 *
 * Pure functions of text (no DOM, no socket), so they can be tried alone:
 * each takes one line as printed in a lesson step ("$ docker ...") and
 * returns what the panel should do, or null when the panel cannot do that
 * line as written. Nothing here is trusted by the server: these only fill
 * the lab's forms, and the server checks every action it is sent. */

const IMAGE_NAME = /^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_.-]+)?$/;
const REF_NAME = /^[a-z0-9][a-z0-9._:\/-]*$/;

/* A code block's text as logical lines: "\" line continuations joined. */
export function logicalLines(text) {
  return text.replace(/\\\n\s*/g, " ").split("\n");
}

/* `docker run [--rm] [-d] [-i] [-t] [--name NAME] [-e NAME=value]...
 * [-p [IP:]HOST:PORT] [--network NAME] IMAGE [COMMAND...]`.
 * `images` maps an official image name to the name the lab runs it under
 * (the lesson images); any other IMAGE is taken as one of the learner's own.
 * Returns {rm, name, image, command, env, port, network}. */
export function parseRunLine(line, images) {
  const m = /^\$\s+(?:time\s+)?docker\s+(?:container\s+)?run\s+(.*)$/.exec(line.trim());
  if (!m || /[`|;&<>]/.test(m[1])) return null;
  const words = m[1].split(/\s+/);
  const result = { rm: false, name: null, image: null, command: "", env: {}, port: null, network: null };
  let i = 0;
  // An option's value: "--name web", "--name=web", or the short "-e X=1".
  const value = (word, long, short) => {
    if (word === long || word === short) { i += 1; return i < words.length ? words[i] : null; }
    if (word.indexOf(long + "=") === 0) return word.slice(long.length + 1);
    return undefined;
  };
  for (; i < words.length && words[i].charAt(0) === "-"; i += 1) {
    const w = words[i];
    let v;
    if (w === "--rm") result.rm = true;
    else if (/^-[dit]+$/.test(w) || w === "--detach" || w === "--interactive" || w === "--tty") continue;
    else if ((v = value(w, "--name", null)) !== undefined) {
      if (!v) return null;
      result.name = v;
    } else if ((v = value(w, "--env", "-e")) !== undefined) {
      const eq = v ? v.indexOf("=") : -1;
      if (eq < 1) return null;
      result.env[v.slice(0, eq)] = v.slice(eq + 1);
    } else if ((v = value(w, "--publish", "-p")) !== undefined) {
      const port = v ? parseInt(v.split(":").pop().split("/")[0], 10) : NaN;
      if (!(port >= 1 && port <= 65535)) return null;
      result.port = port;
    } else if ((v = value(w, "--network", null)) !== undefined) {
      if (!v) return null;
      result.network = v;
    } else return null;
  }
  // Quotes and variables in the options or the image would need a shell.
  if (i >= words.length || /["'$]/.test(words.slice(0, i + 1).join(" "))) return null;
  const image = words[i];
  if (!IMAGE_NAME.test(image)) return null;
  result.image = (images && Object.prototype.hasOwnProperty.call(images, image)) ? images[image] : image;
  result.command = words.slice(i + 1).join(" ");
  return result;
}

/* The docker run line the command form will do, as the learner would type it. */
export function runLine(args, rm) {
  const parts = ["$ docker run"];
  if (rm) parts.push("--rm");
  if (args.name) parts.push("--name " + args.name);
  for (const key of Object.keys(args.env || {})) parts.push("-e " + key + "=" + args.env[key]);
  if (args.port) parts.push("-p 127.0.0.1:<any free port>:" + args.port);
  parts.push(args.image);
  if (args.command) parts.push(args.command);
  return parts.join(" ");
}

/* `docker build [-f FILE] [-t TAG] [--no-cache] .` with FILE one of
 * `samples` (the sample app's Dockerfiles, by name). Returns {file, tag, noCache}. */
export function parseBuildLine(line, samples) {
  const m = /^\$\s+docker\s+(?:image\s+)?build\s+(.*)$/.exec(line.trim());
  if (!m) return null;
  const words = m[1].split(/\s+/);
  const result = { file: "Dockerfile", tag: "flask-app", noCache: false };
  for (let i = 0; i < words.length; i += 1) {
    const w = words[i];
    if ((w === "-f" || w === "--file") && i + 1 < words.length) { i += 1; result.file = words[i]; }
    else if ((w === "-t" || w === "--tag") && i + 1 < words.length) { i += 1; result.tag = words[i]; }
    else if (w === "--no-cache") result.noCache = true;
    else if (w === "." && i === words.length - 1) {
      return samples && Object.prototype.hasOwnProperty.call(samples, result.file) ? result : null;
    } else return null;
  }
  return null;
}

/* `docker tag SOURCE TARGET`, `docker push IMAGE`, `docker pull IMAGE`,
 * `docker rmi IMAGE`. Returns {op, label, source, target} or {op, label, image}. */
export function parseImageLine(line) {
  const m = /^\$\s+docker\s+(?:image\s+)?(tag|push|pull|rmi)\s+(\S+)(?:\s+(\S+))?\s*$/.exec(line.trim());
  if (!m) return null;
  if (!REF_NAME.test(m[2]) || (m[3] && !REF_NAME.test(m[3]))) return null;
  if ((m[1] === "tag") !== !!m[3]) return null;
  const op = { op: m[1], label: "docker " + m[1] + " " + m[2] + (m[3] ? " " + m[3] : "") };
  if (m[1] === "tag") { op.source = m[2]; op.target = m[3]; } else { op.image = m[2]; }
  return op;
}

/* `docker compose up [-d] [--build]`, `ps [-a]`, `down [-v]`, `logs [-f] SERVICE`.
 * Returns {command, volumes, label} or, for logs, {command: "logs", logs: SERVICE, label}. */
export function parseComposeLine(line) {
  const m = /^\$\s+docker\s+compose\s+(up|ps|down|logs)((?:\s+\S+)*)\s*$/.exec(line.trim());
  if (!m) return null;
  const words = m[2].trim() ? m[2].trim().split(/\s+/) : [];
  const command = m[1];
  const allowed = {
    up: ["-d", "--detach", "--build"], ps: ["-a", "--all"],
    down: ["-v", "--volumes"], logs: ["-f", "--follow"],
  };
  const rest = words.filter((w) => allowed[command].indexOf(w) < 0);
  if (command === "logs") {
    if (rest.length !== 1 || !/^[a-z0-9][a-z0-9_.-]*$/.test(rest[0])) return null;
    return { command: "logs", logs: rest[0], label: "logs -f " + rest[0] };
  }
  if (rest.length) return null;
  const volumes = words.indexOf("-v") >= 0 || words.indexOf("--volumes") >= 0;
  return { command: command, volumes: volumes, label: m[1] + m[2] };
}
