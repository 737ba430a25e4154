"""Doing a swarm line's action synchronously, for the lab history and `verify_lessons`.

sandboxes/runner.py hands the `service`, `stack`, `node` and `task_kill`
actions here. Streams (create, update, deploy) are read to their end, as
the page reads them; the outcome says what the learner would read.
"""

from __future__ import annotations

from orchestration import lab
from sandboxes.commands import Action
from sandboxes.models import Sandbox
from sandboxes.runner import Outcome, _tail


def _streamed(stream) -> Outcome:
    lines: list[str] = []
    for event in stream:
        if event.get("kind") == "line":
            lines.append(str(event.get("text", "")))
        elif event.get("kind") == "done":
            service = event.get("service") or {}
            detail = {"service": service.get("name")} if service else {}
            if event.get("stack"):
                detail["stack"] = event["stack"].get("name")
            return Outcome(True, f"{event.get('image')}", output=_tail(lines), detail=detail)
    return Outcome(False, "It ended without a result.", output=_tail(lines), code="failed")


def perform(sandbox: Sandbox, action: Action) -> Outcome:
    """One swarm action, waited for; SandboxErrors are the caller's to turn into outcomes."""
    args = dict(action.args)
    command = args.pop("command", None)
    if action.action == "service":
        if ("service", command) in lab.STREAMED:
            return _streamed(lab.open_service_stream(sandbox, command, args))
        data = lab.service_result(sandbox, command, args)
        if command == "ls":
            rows = data["services"]
            return Outcome(True, ", ".join(
                f"{r['name']} {r['running']}/{r['replicas']}" for r in rows) or "No services.")
        if command == "ps":
            return Outcome(True, ", ".join(
                f"{t['name']} {t['node']} {t['state']}" for t in data["tasks"]) or "No tasks.")
        if command == "rm":
            return Outcome(True, f"Removed {data['removed']}.")
        return Outcome(True, f"{command}: {data['service']['name']}.")
    if action.action == "stack":
        if command == "deploy":
            return _streamed(lab.open_stack_stream(sandbox, args))
        data = lab.stack_result(sandbox, command, args)
        if command == "rm":
            return Outcome(True, f"Removed {', '.join(data['removed'])}.")
        return Outcome(True, f"stack {command} done.")
    if action.action == "node":
        data = lab.node_result(sandbox, command, args)
        if command == "ls":
            return Outcome(True, ", ".join(
                f"{n['name']} {n['availability']}" for n in data["nodes"]))
        return Outcome(True, f"{data['node']}: {data['availability']} for your services.")
    if action.action == "task_kill":
        data = lab.kill_task(sandbox, args["task"])
        return Outcome(True, f"Killed {data['killed']} on {data['node']}.", detail=data)
    return Outcome(False, f"The lab has no action {action.action!r}.", code="bad_request")
