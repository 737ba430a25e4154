"""Dockerfiles read the way the engine reads them, and written back in one form.

The engine here is dockerd 20.10. Its classic builder reads a Dockerfile with
the parser of moby/buildkit's frontend/dockerfile (v0.8, vendored by moby
20.10); `parse` follows that parser's rules, including the surprising ones:

- Lines end at "\\n" only (one "\\r" before it is dropped). A byte order mark
  is skipped at the start of the file, nowhere else.
- Leading and trailing whitespace is whatever Go's `unicode.IsSpace` says
  (U+0085, U+00A0, U+2028 ... count); a keyword ends at the first \\t, \\v,
  \\f, \\r or space, and plain word lists split on those five only.
- Parser directives (`# escape=`, `# syntax=`) are read until the first line
  that is not a known one: an unknown directive, a comment, a blank line or
  an instruction ends them, and a later `# escape=` is a comment. Their
  whitespace is Go's regexp \\s, which has no \\v.
- A line continues when it ends with the escape character plus only spaces
  and tabs, unless the character before it is the escape character too.
  Comment lines and blank lines inside a continued instruction are skipped;
  the parts are joined with nothing in between.
- Keywords are case-insensitive (Go lower-cases U+212A KELVIN SIGN to k and
  U+0130 to i). Flags (`--from=...`) are read byte by byte, with quotes and
  backslash escapes whatever the escape character. A JSON array is tried
  first where the builder tries one, and text after it is ignored there.
- Words the builder later runs through its shell-word expander (COPY and ADD
  sources, ENV and LABEL names and values, WORKDIR ...) keep their quotes,
  escapes and $variables in the parse.

What `parse` returns is a validated parse: a tuple of `Instruction`s. The
engine never sees the learner's text: `emit` writes the instructions as one
instruction per line, with the default escape character and no directive,
and every emitted line is parsed again and must give back the instruction
it came from. So for everything `parse` accepts, parse(emit(parse(x))) ==
parse(x), and what was validated is exactly what runs.

Refused, with a BadRequest naming the line: what the engine would reject
anyway (`InvalidDockerfile`), and what the lab does not run - ADD from a
URL or a git repository (the builds never fetch from the network), heredocs
(BuildKit only), BuildKit-only flags, --platform, ONBUILD triggers using
--from, control characters, and what cannot be written back exactly (a word
holding \\ or ` under `# escape=``, a command ending in a single backslash).
`# syntax=` would make a BuildKit engine fetch a parser from a registry; it
is dropped, with a note for the learner.

This module knows nothing of sandboxes; which images a build may read is
decided on the parse by `sandboxes.services.builds`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from sandboxes.errors import BadRequest

# Go's unicode.IsSpace.
SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# unicode.IsSpace applied to single bytes (Latin-1 runes), as the flag and
# HEALTHCHECK readers do.
_BYTE_SPACE = "\t\n\v\f\r \x85\xa0"
# The builder's reWhitespace: what ends a keyword and splits plain word lists.
_SEPARATOR = re.compile("[\t\v\f\r ]+")
# A parser directive; Go's \s is [\t\n\f\r ] (no \v).
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
KNOWN_DIRECTIVES = ("escape", "syntax")
DEFAULT_ESCAPE = "\\"

KEYWORDS = (
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER "
    "ONBUILD RUN SHELL STOPSIGNAL USER VOLUME WORKDIR"
).split()
_LOWER_KEYWORDS = {keyword.lower() for keyword in KEYWORDS}
# Instructions an ONBUILD trigger may not be (the builder's rule).
_NOT_TRIGGERS = ("ONBUILD", "FROM", "MAINTAINER")

# Flags this builder knows, by instruction; other flags are unknown to it.
_FLAGS = {
    "FROM": ("platform",),
    "COPY": ("chown", "from", "chmod"),
    "ADD": ("chown", "chmod"),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "retries"),
    "RUN": ("mount",),
}
# Flags the lab passes on, and what their values may hold.
_FLAG_VALUE = {
    "from": re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]*\Z"),
    "chown": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*\Z"),
    "interval": re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+\Z"),
    "timeout": re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+\Z"),
    "start-period": re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+\Z"),
    "retries": re.compile(r"[1-9][0-9]{0,8}\Z"),
}
_BUILDKIT_ONLY = {
    "platform": "the lab builds for this machine's platform only",
    "chmod": "it needs BuildKit, and this lab's builder is the classic one",
    "mount": "RUN flags need BuildKit, and this lab's builder is the classic one",
}
# A stage name, after lower-casing (the builder's own rule).
STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
# Longest line the builder's scanner reads (bufio.MaxScanTokenSize - 1).
MAX_LINE_BYTES = 65535
# Most instructions a learner's Dockerfile may hold: every step is a container
# and a commit, and the engine's storage stacks at most about 125 layers.
MAX_INSTRUCTIONS = 100
# Characters the lab refuses outside JSON strings: C0 controls but tab, DEL,
# C1 controls. They would only ever hide text.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_HEREDOC = re.compile(
    r"(?:\A|[" + re.escape(SPACE) + r"])[0-9]*<<-?[\t ]*[\"']?[A-Za-z_]"
)
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|[^/]*@[^/]*:|git@|github\.com/", re.I)


class InvalidDockerfile(BadRequest):
    """The Dockerfile is not one the engine's builder would accept either."""


@dataclass(frozen=True)
class Instruction:
    """One instruction, as the builder splits it.

    `args` by `form`: "json" - the JSON array's strings; "shell" - the raw
    text; "words" - words as split by the builder (FROM, COPY, ADD, VOLUME,
    EXPOSE split on whitespace; ARG with quotes kept); "pairs" - ENV/LABEL
    name, value, name, value ... (quotes kept); "legacy" - ENV/LABEL's old
    `name value` form; "text" - one raw string (USER, WORKDIR ...).
    HEALTHCHECK's args start with its type (CMD or NONE). ONBUILD has its
    trigger in `inner`. FROM's args are (image,) or (image, "AS", stage) with
    the stage name lower-cased, as the builder keeps it.
    """

    keyword: str
    args: tuple[str, ...] = ()
    form: str = "words"
    flags: tuple[tuple[str, str], ...] = ()
    inner: Instruction | None = None
    line: int = field(
        default=0, compare=False
    )  # where it starts in the source, 1-based

    def flag(self, name: str) -> str | None:
        for key, value in self.flags:
            if key == name:
                return value
        return None

    @property
    def stage(self) -> str | None:
        """The name a FROM gives its stage (FROM image AS name), lower case."""
        if self.keyword == "FROM" and len(self.args) == 3:
            return self.args[2]
        return None

    def pairs(self) -> list[tuple[str, str]]:
        """ENV/LABEL's (name, value) pairs, as written (quotes kept)."""
        return list(zip(self.args[::2], self.args[1::2], strict=True))

    def where(self) -> str:
        return f"Line {self.line}"


@dataclass(frozen=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    escape: str = DEFAULT_ESCAPE  # the learner's escape character
    notes: tuple[str, ...] = ()  # what the lab changed on the way, for the learner


# -- Go's character rules ---------------------------------------------------


def go_lower(text: str) -> str:
    """strings.ToLower as far as it can make an ASCII keyword."""
    out = []
    for ch in text:
        if ch == "\u0130":
            out.append("i")
        elif ch == "\u212a" or ch.isascii():
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def _is_as(word: str) -> bool:
    """strings.EqualFold(word, "as"): s also folds to U+017F LONG S."""
    return len(word) == 2 and word[0] in "aA" and word[1] in "sS\u017f"


# -- lines ------------------------------------------------------------------


class _Directives:
    """The parser directives, read as the builder reads them."""

    def __init__(self) -> None:
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = DEFAULT_ESCAPE
        self.continuation = _continuation(DEFAULT_ESCAPE)

    def read(self, line: str, number: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        key = match.group(1).lower() if match else ""
        if key not in KNOWN_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise InvalidDockerfile(
                f"Line {number}: only one {key} parser directive may be given."
            )
        value = match.group(2)
        self.seen[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                raise InvalidDockerfile(
                    f"Line {number}: the escape character can only be \\ or `, "
                    f"not {value!r}."
                )
            self.escape = value
            self.continuation = _continuation(value)


@functools.cache
def _continuation(escape: str) -> re.Pattern:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z")


def _physical_lines(text: str) -> list[str]:
    """Lines as bufio.ScanLines gives them: split at "\\n", one "\\r" dropped."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return lines


def _trim_continuation(line: str, directives: _Directives) -> tuple[str, bool]:
    """The line without its continuation mark, and whether the instruction ends."""
    match = directives.continuation.search(line)
    if match is None:
        return line, True
    return line[: match.start()] + (match.group(1) or ""), False


def _logical_lines(
    lines: list[str], directives: _Directives
) -> Iterator[tuple[int, str]]:
    """(first line number, joined text) of each instruction."""
    index, count = 0, len(lines)
    while index < count:
        token = lines[index].lstrip(SPACE)
        directives.read(token, index + 1)
        line = "" if token.startswith("#") else token
        index += 1
        start = index
        line, ended = _trim_continuation(line, directives)
        if ended and line == "":
            continue
        while not ended and index < count:
            raw = lines[index]
            directives.read(raw, index + 1)
            index += 1
            if raw.lstrip(SPACE).startswith("#") or raw.lstrip(SPACE) == "":
                continue  # comments and empty lines inside a continuation
            part, ended = _trim_continuation(raw, directives)
            line += part
        yield start, line


# -- one instruction --------------------------------------------------------


def _extract_flags(text: str, where: str) -> tuple[str, list[str]]:
    """The builder's extractBuilderFlags: (the rest, the `--flag` words).

    It reads bytes, not characters: a byte 0x85 or 0xA0 inside a multi-byte
    character counts as a space there. Flags are therefore held to ASCII,
    which also keeps the cut between flags and the rest on a character.
    """
    line = text.encode("utf-8").decode("latin-1")
    words: list[str] = []
    word, phase, quote, blank_ok = "", "spaces", "", False
    pos, size = 0, len(line)
    rest: str | None = None
    while pos <= size:
        ch = line[pos] if pos < size else ""
        if phase == "spaces":
            if pos == size:
                break
            if ch in _BYTE_SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == size or line[pos + 1] != "-":
                rest = line[pos:]
                break
            phase = "word"
        if pos == size:  # in a word or a quote
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch in _BYTE_SPACE:
                phase = "spaces"
                if word == "--":
                    rest = line[pos:]
                    break
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == size:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == size:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word += ch
        pos += 1
    for flag in words:
        if not flag.isascii():
            raise BadRequest(f"{where}: write flags (--...) in plain ASCII.")
    remainder = (rest or "").encode("latin-1").decode("utf-8")
    return remainder, words


def _json_array(text: str, where: str) -> list[str] | None:
    """The builder's parseJSON: a JSON array of strings, or None to fall back."""
    text = text.lstrip(SPACE)
    if not text.startswith("["):
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    except RecursionError:
        raise InvalidDockerfile(
            f"{where}: a JSON array here holds strings only."
        ) from None
    if not all(isinstance(item, str) for item in value):
        raise InvalidDockerfile(f"{where}: a JSON array here holds strings only.")
    if text[end:].strip(SPACE):
        raise BadRequest(
            f"{where}: there is text after the JSON array; the builder would "
            "ignore it silently, so remove it."
        )
    for item in value:
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                f"{where}: a JSON string holds a lone surrogate (\\ud800-\\udfff)."
            ) from None
    return value


def _parse_words(text: str, escape: str) -> list[str]:
    """The builder's parseWords: words split at whitespace, quotes and escapes kept."""
    words: list[str] = []
    word, phase, quote, blank_ok = "", "spaces", "", False
    pos, size = 0, len(text)
    while pos <= size:
        ch = text[pos] if pos < size else ""
        if phase == "spaces":
            if pos == size:
                break
            if ch in SPACE:
                pos += 1
                continue
            phase = "word"
        if pos == size:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if ch in SPACE:
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == size:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = text[pos]
            word += ch
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == size:
                phase = "word"
                pos += 1
                continue
            pos += 1
            word += ch
            ch = text[pos]
        word += ch
        pos += 1
    return words


def _split(text: str) -> tuple[str, ...]:
    return tuple(_SEPARATOR.split(text)) if text else ()


def _maybe_json(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    if not text:
        return "shell", ()
    array = _json_array(text, where)
    if array is not None:
        return "json", tuple(array)
    return "shell", (text,)


def _maybe_json_list(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    array = _json_array(text, where)
    if array is not None:
        return "json", tuple(array)
    return "words", _split(text)


def _name_values(
    keyword: str, text: str, escape: str, where: str
) -> tuple[str, tuple[str, ...]]:
    """ENV and LABEL: `name=value ...`, or the old `name value`."""
    words = _parse_words(text, escape)
    if not words:
        raise InvalidDockerfile(f"{where}: {keyword} needs at least one name=value.")
    if "=" not in words[0]:
        parts = _SEPARATOR.split(text, maxsplit=1)
        if len(parts) < 2:
            raise InvalidDockerfile(f"{where}: {keyword} needs a name and a value.")
        args: tuple[str, ...] = (parts[0], parts[1])
        form = "legacy"
    else:
        flat: list[str] = []
        for word in words:
            if "=" not in word:
                raise InvalidDockerfile(
                    f"{where}: {word!r} has no '='; write {keyword} name=value."
                )
            flat.extend(word.split("=", 1))
        args, form = tuple(flat), "pairs"
    if any(not name for name in args[::2]):
        raise InvalidDockerfile(f"{where}: {keyword} names cannot be blank.")
    return form, args


def _healthcheck(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    """HEALTHCHECK: the type (its first word, split by bytes), then a command."""
    data = text.encode("utf-8").decode("latin-1")
    sep = 0
    while sep < len(data) and data[sep] not in _BYTE_SPACE:
        sep += 1
    nxt = sep
    while nxt < len(data) and data[nxt] in _BYTE_SPACE:
        nxt += 1
    kind = data[:sep]
    if not kind:
        raise InvalidDockerfile(f"{where}: HEALTHCHECK needs CMD or NONE.")
    if not kind.isascii():
        raise InvalidDockerfile(f"{where}: HEALTHCHECK takes CMD or NONE.")
    rest = data[nxt:].encode("latin-1").decode("utf-8")
    form, args = _maybe_json(rest, where)
    return form, (kind.upper(), *args)


def _keyword(word: str) -> str | None:
    """The instruction a first word names (strings.ToLower, then a lookup)."""
    lowered = go_lower(word)
    return lowered.upper() if lowered in _LOWER_KEYWORDS else None


def _one(line: str, number: int, escape: str) -> Instruction:
    """One instruction from its joined text (the builder's newNodeFromLine)."""
    where = f"Line {number}"
    parts = _SEPARATOR.split(line.strip(SPACE), maxsplit=1)
    word = parts[0]
    keyword = _keyword(word)
    if keyword is None:
        if not word:
            raise InvalidDockerfile(
                f"{where}: a line continuation (\\) with no instruction after it."
            )
        shown = word if len(word) <= 30 else word[:27] + "..."
        raise InvalidDockerfile(f"{where}: unknown instruction {shown!r}.")
    rest, flag_words = _extract_flags(parts[1], where) if len(parts) == 2 else ("", [])
    rest = rest.strip(SPACE)
    flags = _read_flags(keyword, flag_words, where)
    inner = None
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
        form, args = _maybe_json(rest, where)
    elif keyword in ("COPY", "ADD", "VOLUME"):
        form, args = _maybe_json_list(rest, where)
    elif keyword == "FROM":
        form, args = "words", _from_args(_split(rest), where)
    elif keyword == "EXPOSE":
        form, args = "words", _split(rest)
    elif keyword in ("ENV", "LABEL"):
        form, args = _name_values(keyword, rest, escape, where)
    elif keyword == "ARG":
        form, args = "words", tuple(_parse_words(rest, escape))
    elif keyword == "HEALTHCHECK":
        form, args = _healthcheck(rest, where)
    elif keyword == "ONBUILD":
        form, args, inner = "trigger", (), _trigger(rest, number, escape)
    else:  # MAINTAINER, STOPSIGNAL, USER, WORKDIR
        form, args = "text", ((rest,) if rest else ())
    ins = Instruction(keyword, args, form, flags, inner, number)
    _check_shape(ins)
    return ins


def _from_args(args: tuple[str, ...], where: str) -> tuple[str, ...]:
    """FROM image [AS name], the stage name lower-cased as the builder keeps it."""
    if len(args) == 3 and _is_as(args[1]):
        name = go_lower(args[2])
        if not STAGE_NAME.match(name):
            raise InvalidDockerfile(
                f"{where}: {args[2]!r} is not a stage name: it starts with a "
                "letter and holds letters, digits and - _ ."
            )
        return (args[0], "AS", name)
    if len(args) != 1:
        raise InvalidDockerfile(
            f"{where}: FROM takes an image, optionally followed by AS and a stage name."
        )
    return args


def _trigger(rest: str, number: int, escape: str) -> Instruction:
    """ONBUILD's instruction; what it may not be is checked before reading it."""
    if not rest:
        raise InvalidDockerfile(f"Line {number}: ONBUILD needs an instruction.")
    first = _keyword(_SEPARATOR.split(rest, maxsplit=1)[0])
    if first in _NOT_TRIGGERS:
        raise InvalidDockerfile(f"Line {number}: ONBUILD cannot trigger {first}.")
    return _one(rest, number, escape)


def _read_flags(
    keyword: str, words: list[str], where: str
) -> tuple[tuple[str, str], ...]:
    """The builder's BFlags.Parse: known flags, each once, each with a value."""
    known = _FLAGS.get(keyword, ())
    flags: list[tuple[str, str]] = []
    for word in words:
        name, eq, value = word[2:].partition("=")
        if name not in known:
            raise InvalidDockerfile(f"{where}: {keyword} has no flag --{name}.")
        if any(name == seen for seen, _ in flags):
            raise InvalidDockerfile(f"{where}: --{name} is given twice.")
        if not eq:
            raise InvalidDockerfile(f"{where}: --{name} needs a value (--{name}=...).")
        flags.append((name, value))
    return tuple(flags)


def _check_shape(ins: Instruction) -> None:
    """What the builder's instructions.Parse rejects about one instruction."""
    where, keyword, args = ins.where(), ins.keyword, ins.args

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InvalidDockerfile(f"{where}: {keyword} {what}.")

    if keyword in ("COPY", "ADD"):
        need(len(args) >= 2, "needs at least one source and a destination")
    elif keyword in ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"):
        need(len(args) == 1, "needs exactly one argument")
    elif keyword in ("EXPOSE", "VOLUME", "ARG"):
        need(len(args) >= 1, "needs at least one argument")
        if keyword == "VOLUME":
            need(all(arg.strip(SPACE) for arg in args), "paths cannot be empty")
        if keyword == "ARG":
            need(all(not arg.startswith("=") for arg in args), "names cannot be blank")
    elif keyword == "SHELL":
        need(
            ins.form == "json" and len(args) >= 1,
            'takes a JSON array, like SHELL ["/bin/sh", "-c"]',
        )
    elif keyword in ("RUN", "CMD", "ENTRYPOINT"):
        need(ins.form == "json" or bool(args), "needs a command")
    elif keyword == "HEALTHCHECK":
        kind = args[0]
        need(kind in ("CMD", "NONE"), "takes CMD or NONE")
        if kind == "NONE":
            need(len(args) == 1 and not ins.flags, "NONE takes nothing else")
        else:
            need(len(args) > 1, "CMD needs a command")


# -- the lab's own rules ----------------------------------------------------


def _strings(ins: Instruction) -> list[str]:
    """The texts of an instruction that end up on the emitted line."""
    return [*ins.args, *(value for _, value in ins.flags)]


# What the builder runs through its shell-word expander (escapes, quotes, $).
_EXPANDED = {
    "COPY",
    "ADD",
    "ENV",
    "LABEL",
    "ARG",
    "WORKDIR",
    "USER",
    "VOLUME",
    "STOPSIGNAL",
    "EXPOSE",
    "FROM",
}


def check(ins: Instruction, escape: str) -> None:
    """The lab's refusals for one instruction (BadRequest naming the line)."""
    where = ins.where()
    for name, value in ins.flags:
        if name in _BUILDKIT_ONLY:
            raise BadRequest(
                f"{where}: --{name} is not supported here: {_BUILDKIT_ONLY[name]}."
            )
        if "$" in value:
            raise BadRequest(
                f"{where}: build arguments ($NAME) in --{name} are not supported here."
            )
        if not _FLAG_VALUE[name].match(value):
            raise BadRequest(
                f"{where}: --{name}={value!r} is not a value the lab accepts."
            )
    if ins.form != "json" and ins.keyword != "ONBUILD":
        for text in _strings(ins):
            found = _CONTROL.search(text)
            if found:
                raise BadRequest(
                    f"{where}: remove the control character U+{ord(found.group()):04X} "
                    "from this instruction."
                )
    if escape != DEFAULT_ESCAPE and ins.keyword in _EXPANDED:
        for text in _strings(ins):
            if "\\" in text or "`" in text:
                raise BadRequest(
                    f"{where}: with `# escape=`` the lab cannot pass on a \\ or ` in "
                    f"{ins.keyword}'s arguments exactly; write them without."
                )
    if ins.keyword in ("RUN", "COPY", "ADD") and ins.form != "json":
        if any(_HEREDOC.search(text) for text in ins.args):
            raise BadRequest(
                f"{where}: heredocs (<<EOF) are not run by this lab's builder: join "
                "the commands with && on the RUN line, or COPY a file from the "
                "sample folder."
            )
    if ins.keyword == "ADD":
        for source in ins.args[:-1]:
            _check_add_source(source, where)
    if ins.inner is not None:
        if ins.inner.flag("from") is not None:
            raise BadRequest(
                f"{where}: ONBUILD triggers cannot use --from: they run in a later "
                "build, where the image they name is not checked."
            )
        check(ins.inner, escape)


def _check_add_source(source: str, where: str) -> None:
    if any(ch in source for ch in "$'\"\\`\ufeff"):
        raise BadRequest(
            f"{where}: write ADD's sources out plainly (no $variables, quotes or "
            "escapes), so the lab can see they are files of the sample folder."
        )
    if "://" in source or _URL_LIKE.match(source) or source.lower().endswith(".git"):
        raise BadRequest(
            f"{where}: ADD from a URL or a git repository is not allowed: the lab's "
            "builds never fetch from the network. Put the file in the sample "
            "folder and COPY it."
        )


class _Stages:
    """Only ARG before the first FROM; no stage name twice (read in order)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.started = False

    def see(self, ins: Instruction) -> None:
        if ins.keyword == "FROM":
            self.started = True
            if ins.stage in self.names:
                raise InvalidDockerfile(
                    f"{ins.where()}: the stage name {ins.stage!r} is used twice."
                )
            if ins.stage:
                self.names.add(ins.stage)
        elif not self.started and ins.keyword != "ARG":
            raise BadRequest(
                f"{ins.where()}: a Dockerfile starts with a FROM instruction "
                "(only ARG may come before it)."
            )


# -- reading a whole Dockerfile ---------------------------------------------


def _instructions(text: str, directives: _Directives) -> Iterator[Instruction]:
    for number, line in _logical_lines(_physical_lines(text), directives):
        yield _one(line, number, directives.escape)


def _read(text: str) -> tuple[list[Instruction], _Directives]:
    directives = _Directives()
    return list(_instructions(text, directives)), directives


def parse(text: str) -> Dockerfile:
    """The learner's Dockerfile, read as the builder reads it and checked.

    Raises BadRequest (InvalidDockerfile when the engine would refuse it too)
    naming the line of the first problem, for anything the lab will not pass
    on exactly.
    """
    if not isinstance(text, str):
        raise BadRequest("The Dockerfile must be text.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "The Dockerfile holds characters that are not valid text."
        ) from None
    directives = _Directives()
    stages = _Stages()
    found = []
    for ins in _instructions(text, directives):
        if len(found) == MAX_INSTRUCTIONS:
            raise BadRequest(
                f"{ins.where()}: a Dockerfile here holds at most "
                f"{MAX_INSTRUCTIONS} instructions."
            )
        stages.see(ins)
        check(ins, directives.escape)
        emit_line(ins)  # refuse now what could not be passed on
        found.append(ins)
    if not found:
        raise InvalidDockerfile("The Dockerfile has no instructions.")
    if not stages.started:
        raise BadRequest("A Dockerfile needs a FROM instruction.")
    notes = []
    if "syntax" in directives.seen:
        shown = directives.seen["syntax"][:60]
        notes.append(
            f"Note: the `# syntax={shown}` line was left out: it "
            "would make a BuildKit engine fetch its Dockerfile reader from a "
            "registry, and this lab's builds never fetch from the network."
        )
    return Dockerfile(tuple(found), directives.escape, tuple(notes))


# -- writing it back --------------------------------------------------------


def _body(ins: Instruction) -> str:
    if ins.inner is not None:
        return emit_line(ins.inner)
    args = ins.args
    if ins.keyword == "HEALTHCHECK":
        if len(args) == 1:
            return args[0]
        command = (
            json.dumps(list(args[1:]), ensure_ascii=False)
            if ins.form == "json"
            else args[1]
        )
        return f"{args[0]} {command}"
    if ins.form == "json":
        return json.dumps(list(args), ensure_ascii=False)
    if ins.form == "pairs":
        return " ".join(f"{name}={value}" for name, value in ins.pairs())
    return " ".join(args)


def _unchecked_line(ins: Instruction) -> str:
    body = _body(ins)
    if body.startswith("--"):
        body = "-- " + body  # the end of flags, so the body is not read as one
    words = [ins.keyword, *(f"--{name}={value}" for name, value in ins.flags), body]
    return " ".join(word for word in words if word)


def emit_line(ins: Instruction) -> str:
    """One instruction as the one line the engine receives.

    The line is parsed again (default escape, no directives) and must give
    back the same instruction; if not, the instruction is refused.
    """
    line = _unchecked_line(ins)
    if len(line.encode("utf-8")) > MAX_LINE_BYTES - 1000:
        raise BadRequest(f"{ins.where()}: this instruction is too long.")
    try:
        again, _ = _read(line)
    except BadRequest:
        again = []
    if again != [ins]:
        trailing = (
            ins.form in ("shell", "text") and ins.args and ins.args[-1].endswith("\\")
        )
        reason = (
            "it ends with a single backslash, which the builder would read as a "
            "line continuation"
            if trailing
            else "the builder would read it differently once written on one line"
        )
        raise BadRequest(
            f"{ins.where()}: this instruction cannot be passed on exactly: {reason}."
        )
    return line


def emit(instructions: tuple[Instruction, ...] | list[Instruction]) -> str:
    """The Dockerfile the engine receives: one checked line per instruction."""
    text = "".join(emit_line(ins) + "\n" for ins in instructions)
    again, directives = _read(text)
    if again != list(instructions) or directives.seen:
        raise BadRequest("The Dockerfile cannot be passed on exactly as written.")
    return text


def read_trigger(text: str) -> Instruction:
    """An ONBUILD trigger stored in an image, checked like ONBUILD's instruction.

    The builder parses each trigger on its own (default escape) when a build
    starts FROM the image; it must be exactly one instruction.
    """
    found, directives = _read(text)
    if len(found) != 1:
        raise BadRequest("an ONBUILD trigger is exactly one instruction.")
    ins = found[0]
    if ins.keyword in _NOT_TRIGGERS:
        raise BadRequest(f"ONBUILD cannot trigger {ins.keyword}.")
    check(Instruction("ONBUILD", (), "trigger", inner=ins), directives.escape)
    return ins


def literal_word(word: str) -> str | None:
    """What the builder's shell-word expander makes of a word without $variables.

    Quotes go, backslash escapes are undone (default escape); None when the
    word has a $ or an unmatched quote. Like Go's text/scanner, a byte order
    mark at its start is skipped.
    """
    if "$" in word:
        return None
    chars = word[1:] if word.startswith("\ufeff") else word
    out, pos, size = [], 0, len(chars)
    while pos < size:
        ch = chars[pos]
        pos += 1
        if ch == "'":
            end = chars.find("'", pos)
            if end < 0:
                return None
            out.append(chars[pos:end])
            pos = end + 1
        elif ch == '"':
            while True:
                if pos >= size:
                    return None
                ch = chars[pos]
                pos += 1
                if ch == '"':
                    break
                if ch == "\\" and pos < size and chars[pos] in '"$\\':
                    ch = chars[pos]
                    pos += 1
                out.append(ch)
        elif ch == "\\":
            if pos >= size:
                break
            out.append(chars[pos])
            pos += 1
        else:
            out.append(ch)
    return "".join(out)


def steps(instructions: tuple[Instruction, ...] | list[Instruction]) -> int:
    """How many steps the classic builder numbers ("Step 3/7 : ...")."""
    return len(instructions)
