"""Properties of the Dockerfile parser over generated inputs (hypothesis).

Whatever the text: parsing raises nothing but BadRequest; for everything it
accepts, what we emit parses back to the same instructions, with one
instruction per line, no directive and the default escape, and emitting
that again gives the same text.
"""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandboxes.errors import BadRequest
from sandboxes.services import dockerfile as df
from sandboxes.services.builds import EXPIRY_LABEL, labelled

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Pieces an attacker would combine: keywords in odd cases, flags, directives,
# quotes, both escape characters, every kind of whitespace and line end.
FRAGMENTS = [
    *df.KEYWORDS,
    "from",
    "Run",
    "copy",
    "onbuild",
    "WOR\u212aDIR",
    "FRUM",
    "a\u017f",
    "--from=",
    "--chown=1:1",
    "--platform=x",
    "--",
    "AS",
    "as",
    "python:3.12-slim",
    "base",
    "0",
    "# escape=`",
    "# escape=\\",
    "# syntax=x/y",
    "# foo=bar",
    "#",
    '["a", "b"]',
    '["a"] x',
    "[",
    "]",
    '"',
    "'",
    "\\",
    "`",
    "$X",
    "${X}",
    "=",
    "a=b",
    "http://127.0.0.1/",
    "git@h:r.git",
    "<<EOF",
    "/a",
    "b c",
    " ",
    " ",
    "\t",
    "\v",
    "\f",
    "\r",
    "\n",
    "\n",
    "\r\n",
    "\\\n",
    "`\n",
    "\ufeff",
    "\u00a0",
    "\u2028",
    "\x85",
    "\x1c",
    "\x00",
    "\u00e9",
]
fragment_texts = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)

SEPARATOR = st.sampled_from([" ", "  ", "\t", "\v", "\f", " \r"])
WORD = st.one_of(
    st.sampled_from(
        [
            "a",
            "/app",
            ".",
            "x=1",
            'x="a b"',
            "'q'",
            "$HOME",
            "-c",
            "--x",
            "\\",
            "`",
            "a\\ b",
            "[",
            '["sh", "-c"]',
            "caf\u00e9",
            "1:1",
            "<<E",
        ]
    ),
    st.text(
        alphabet=string.ascii_letters + string.digits + "._-/:=$\"'\\` ", max_size=8
    ),
)
LINE = st.tuples(
    st.sampled_from([*df.KEYWORDS, *map(str.lower, df.KEYWORDS)]),
    st.lists(st.tuples(SEPARATOR, WORD), max_size=5),
    st.sampled_from(["", " \\", "\\", " `", "\r"]),
).map(lambda t: t[0] + "".join(sep + word for sep, word in t[1]) + t[2])
HEAD = st.sampled_from(
    ["", "# escape=`\n", "# syntax=a/b\n", "\ufeff", "# x=y\n# escape=`\n"]
)
structured_texts = st.tuples(
    HEAD, st.lists(LINE, min_size=1, max_size=8).map("\n".join)
).map(lambda t: t[0] + "FROM python:3.12-slim\n" + t[1] + "\n")


def round_trips(text: str) -> bool:
    """The properties, for one text; False when the text was refused."""
    try:
        parsed = df.parse(text)
    except BadRequest as exc:
        assert exc.message  # a message for the learner, nothing else
        return False
    emitted = df.emit(parsed.instructions)
    again = df.parse(emitted)
    assert again.instructions == parsed.instructions
    assert again.escape == "\\" and again.notes == ()
    lines = emitted.splitlines()
    assert emitted.count("\n") == len(parsed.instructions) == len(lines)
    for line, ins in zip(lines, parsed.instructions, strict=True):
        assert line.split(" ", 1)[0] == ins.keyword
    assert df.emit(again.instructions) == emitted
    return True


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_with_a_bad_request(text):
    round_trips(text)


@SETTINGS
@given(fragment_texts)
def test_combinations_of_tricky_fragments_round_trip_or_are_refused(text):
    round_trips(text)


@SETTINGS
@given(structured_texts)
def test_dockerfiles_round_trip_or_are_refused(text):
    round_trips(text)


# Well-formed Dockerfiles, written every way the builder reads alike.
SAFE_WORD = st.text(
    alphabet=string.ascii_lowercase + string.digits + "./=:-_", min_size=1, max_size=6
).filter(lambda w: not w.startswith("-"))
GO_SPACE = st.sampled_from([" ", "\t", "\u00a0", "\u2028", "\u3000", "\x85", "\u1680"])


@st.composite
def instruction(draw, stage: int):
    """(keyword, args as meant, form, text of its arguments)."""
    words = draw(st.lists(SAFE_WORD, min_size=1, max_size=4))
    kind = draw(
        st.sampled_from(
            [
                "RUN",
                "CMD-json",
                "COPY",
                "ENV",
                "LABEL",
                "ARG",
                "EXPOSE",
                "WORKDIR",
                "ONBUILD",
                "HEALTHCHECK",
                "VOLUME",
                "USER",
            ]
        )
    )
    if kind == "CMD-json":
        return (
            "CMD",
            tuple(words),
            "json",
            "[" + ", ".join(f'"{w}"' for w in words) + "]",
        )
    if kind in ("RUN", "ONBUILD", "HEALTHCHECK"):
        sep = draw(st.sampled_from([" ", "\t", "  "]))
        text = sep.join(words)
        prefix = {"RUN": "", "ONBUILD": "RUN ", "HEALTHCHECK": "CMD "}[kind]
        return kind, tuple(words), "shell", prefix + text
    if kind in ("ENV", "LABEL"):
        pairs = [f"k{i}={w}" for i, w in enumerate(words)]
        return kind, tuple(pairs), "pairs", " ".join(pairs)
    if kind == "COPY":
        source = f"--from={draw(st.integers(0, stage - 1))} " if stage else ""
        return (
            kind,
            tuple(words) + ("/dst/",),
            "words",
            source + " ".join(words) + " /dst/",
        )
    if kind == "ARG":
        return (
            kind,
            (f"a{words[0].replace('=', '')}",),
            "words",
            f"a{words[0].replace('=', '')}",
        )
    if kind in ("WORKDIR", "USER"):
        return kind, (words[0],), "text", words[0]
    return kind, tuple(words), "words", " ".join(words)


@st.composite
def well_formed(draw):
    """(text, [(keyword, args as meant, form)]) of a Dockerfile the lab must accept."""
    escape = draw(st.sampled_from(["\\", "`"]))
    head = draw(st.sampled_from(["", "\ufeff"])) + (
        f"# escape={escape}\n" if escape == "`" or draw(st.booleans()) else ""
    )
    end = draw(st.sampled_from(["\n", "\r\n"]))
    meant: list[tuple] = []
    lines: list[str] = []
    stages = draw(st.integers(1, 3))
    for stage in range(stages):
        meant.append(("FROM", "python:3.12-slim"))
        lines.append(
            f"FROM{draw(SEPARATOR)}python:3.12-slim{draw(SEPARATOR)}AS s{stage}"
        )
        for _ in range(draw(st.integers(0, 4))):
            keyword, args, form, text = draw(instruction(stage))
            meant.append((keyword, args, form))
            written = draw(st.sampled_from([keyword, keyword.lower(), keyword.title()]))
            if " " in text and draw(st.booleans()):  # continue it over more lines
                at = text.rindex(" ")
                filler = draw(
                    st.sampled_from(["", "# a comment" + end, end, "  \t" + end])
                )
                text = text[:at] + " " + escape + end + filler + "   " + text[at + 1 :]
            line = (
                draw(GO_SPACE) * draw(st.integers(0, 1))
                + written
                + draw(SEPARATOR)
                + text
            )
            lines.append(line + draw(st.sampled_from(["", " ", "\t", "\u00a0"])))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["# comment", "", "   ", "# escape=\\"])))
    return head + end.join(lines) + end, meant


@SETTINGS
@given(well_formed())
def test_well_formed_dockerfiles_are_accepted_read_as_meant_and_round_trip(case):
    text, meant = case
    assert round_trips(text), text
    found = [ins for ins in df.parse(text).instructions]
    assert [ins.keyword for ins in found] == [m[0] for m in meant]
    for ins, (keyword, *rest) in zip(found, meant, strict=True):
        if keyword == "FROM":
            assert ins.args[0] == "python:3.12-slim"
            continue
        args, form = rest
        if ins.inner is not None:
            ins = ins.inner
        words = tuple(" ".join(ins.args).split()) if form == "shell" else ins.args
        if keyword == "HEALTHCHECK":
            words = words[1:]
        if form == "pairs":
            words = tuple(f"{k}={v}" for k, v in ins.pairs())
        assert words == args, (ins, args)


@SETTINGS
@given(well_formed())
def test_the_labels_open_and_close_every_stage_of_any_accepted_dockerfile(case):
    parsed = df.parse(case[0])
    labels = {
        "org.dockerlab.sandbox": "0123456789",
        EXPIRY_LABEL: "2030-01-01T00:00:00Z",
    }
    with_labels = labelled(parsed.instructions, labels)
    again = df.parse(df.emit(with_labels)).instructions
    assert list(again) == with_labels
    stages = [i for i, ins in enumerate(again) if ins.keyword == "FROM"]
    for index in stages:
        assert again[index + 1].args[0] == "org.dockerlab.sandbox"
        assert again[index - 1].args[0] == EXPIRY_LABEL or index == stages[0]
    assert again[-1].args[0] == EXPIRY_LABEL
