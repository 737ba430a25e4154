"""Join codes: random, readable aloud and unique.

Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L, U/V),
shown as two groups of four (`K7QM-3XHP`); about 2^39 codes, so guessing one
is hopeless under the rate limit on guesses (accounts.limits). What a
learner types is normalised before any lookup: case, spaces and hyphens do
not matter, and anything else makes it simply not a code.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
LENGTH = 8
_CODE = re.compile(rf"^[{ALPHABET}]{{{LENGTH}}}\Z")
_SEPARATORS = re.compile(r"[\s-]+")


def new_code() -> str:
    """A fresh random code, stored form (no hyphen). Uniqueness is the caller's check."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(text: object) -> str | None:
    """The stored form of what a learner typed, or None if it cannot be a code."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    code = _SEPARATORS.sub("", text).upper()
    return code if _CODE.match(code) else None


def shown(code: str) -> str:
    """A code as people read it: two groups of four."""
    return f"{code[:4]}-{code[4:]}" if len(code) == LENGTH else code
