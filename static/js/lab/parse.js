/* parse.js - the command form's `docker run` line, as the learner would type it.
 *
 * Lesson lines are read on the server (sandboxes/commands.py), once: the
 * page's Try buttons send a line's text and the server parses it. */

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
