"""Who may sign up, and how often anyone may try: counters in Django's cache.

Sign-up: DOCKERLAB_SIGNUP says whether it is open, needs a code, or is closed
(`signup_code_accepted` is the one place that decides about a code), and one
client address may create DOCKERLAB_SIGNUPS_PER_HOUR accounts an hour; each
account gets a sandbox and a network, so unlimited sign-ups would fill the box.

Class codes: a learner guessing join codes (on the join page, or at sign-up
where a class code is accepted) is refused after
DOCKERLAB_JOIN_FAILURES_PER_USER wrong codes, or
DOCKERLAB_JOIN_FAILURES_PER_ADDRESS from one address, for
DOCKERLAB_JOIN_LOCKOUT_MINUTES (counted from the first wrong code).

Sign-in: after DOCKERLAB_LOGIN_FAILURES_PER_USER failed attempts on one user
name, or DOCKERLAB_LOGIN_FAILURES_PER_ADDRESS from one address, further
attempts are refused for DOCKERLAB_LOGIN_LOCKOUT_MINUTES (counted from the
first failure). A lock on a user name can be set off by anyone who knows it:
that is the price of stopping password guessing, and it lifts by itself.

The counters are fixed windows in the default cache. It is this process's
memory unless DOCKERLAB_CACHE_URL names a shared one, which several server
processes need (each would otherwise count on its own). The client address
is REMOTE_ADDR: behind a reverse proxy, set DOCKERLAB_PROXY_HEADERS so the
server takes it from X-Forwarded-For, or every learner shares the proxy's.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

HOUR = 3600


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _count(key: str) -> int:
    return int(cache.get(key, 0))


def _hit(key: str, window: int) -> int:
    """Count one more in `key`'s window (started by the first hit); the new count."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


# --- sign-up -----------------------------------------------------------------------


def signup_mode() -> str:
    """"open", "code" or "closed" (DOCKERLAB_SIGNUP)."""
    return settings.DOCKERLAB_SIGNUP


def signup_code_accepted(code: str) -> bool:
    """Whether a sign-up code lets a new learner in.

    The site's one code (DOCKERLAB_SIGNUP_CODE), or the join code of a class
    that has not ended (the new learner then joins that class: see
    accounts.forms.SignUpForm.classroom).
    """
    if not isinstance(code, str):
        return False
    expected = settings.DOCKERLAB_SIGNUP_CODE
    if expected and hmac.compare_digest(code.strip().encode(), expected.encode()):
        return True
    return signup_classroom(code) is not None


def signup_classroom(code: str):
    """The class whose live join code this is, or None."""
    from classrooms.joining import live_classroom  # deferred: accounts loads before classrooms

    return live_classroom(code)


def _signup_key(request: HttpRequest) -> str:
    return f"dockerlab:signup:{client_address(request)}"


def signups_left(request: HttpRequest) -> bool:
    """Whether this address may still create an account this hour."""
    return _count(_signup_key(request)) < settings.DOCKERLAB_SIGNUPS_PER_HOUR


def take_signup(request: HttpRequest) -> bool:
    """Count an account about to be created from this address; False if over the limit.

    Counted before the account is saved, so two sign-ups at the same moment
    cannot both take the last place.
    """
    return _hit(_signup_key(request), HOUR) <= settings.DOCKERLAB_SIGNUPS_PER_HOUR


# --- class codes -------------------------------------------------------------------


def _join_keys(request: HttpRequest, user=None) -> list[str]:
    keys = [f"dockerlab:join:addr:{client_address(request)}"]
    if getattr(user, "is_authenticated", False):
        keys.append(f"dockerlab:join:user:{user.pk}")
    return keys


def join_locked(request: HttpRequest, user=None) -> bool:
    """Whether this learner (if signed in) or address has guessed too many wrong codes."""
    by_address, *by_user = _join_keys(request, user)
    return _count(by_address) >= settings.DOCKERLAB_JOIN_FAILURES_PER_ADDRESS or any(
        _count(key) >= settings.DOCKERLAB_JOIN_FAILURES_PER_USER for key in by_user
    )


def join_failed(request: HttpRequest, user=None) -> None:
    """Count one wrong class code against this address (and learner)."""
    window = settings.DOCKERLAB_JOIN_LOCKOUT_MINUTES * 60
    for key in _join_keys(request, user):
        _hit(key, window)


def join_lockout_message() -> str:
    minutes = settings.DOCKERLAB_JOIN_LOCKOUT_MINUTES
    return (
        "Too many wrong class codes from your account or your network: "
        f"try again in {minutes} minutes, with the code your trainer gave you."
    )


# --- sign-in -----------------------------------------------------------------------


def _login_keys(request: HttpRequest, username: str) -> tuple[str, str]:
    name = (username or "").strip().lower()[:150]
    return f"dockerlab:login:user:{name}", f"dockerlab:login:addr:{client_address(request)}"


def login_locked(request: HttpRequest, username: str) -> bool:
    by_user, by_address = _login_keys(request, username)
    return (
        _count(by_user) >= settings.DOCKERLAB_LOGIN_FAILURES_PER_USER
        or _count(by_address) >= settings.DOCKERLAB_LOGIN_FAILURES_PER_ADDRESS
    )


def login_failed(request: HttpRequest, username: str) -> None:
    window = settings.DOCKERLAB_LOGIN_LOCKOUT_MINUTES * 60
    for key in _login_keys(request, username):
        _hit(key, window)


def lockout_message() -> str:
    minutes = settings.DOCKERLAB_LOGIN_LOCKOUT_MINUTES
    return (
        "Too many failed sign-ins for this account or from your network: "
        f"try again in {minutes} minutes."
    )
