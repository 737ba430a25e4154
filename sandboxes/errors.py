"""What sandbox actions raise: one small hierarchy, each with a learner-fit message.

`code` is a short slug the websocket layer sends along, so the page can react
without parsing English.
"""

from __future__ import annotations


class SandboxError(Exception):
    """A sandbox action could not be done; `message` says why, `code` says what kind."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(SandboxError):
    """The request itself is unusable (too large, wrong type, unsupported option)."""

    code = "bad_request"


class InvalidName(BadRequest):
    """An image, tag or container name that is not allowed in a sandbox."""

    code = "invalid_name"


class NotInSandbox(SandboxError):
    """No such object in the caller's sandbox (or it is someone else's: not said)."""

    code = "not_found"


class QuotaExceeded(SandboxError):
    """The sandbox already holds as many objects as it may."""

    code = "quota"
