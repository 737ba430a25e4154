"""The Dockerfile parser on a corpus of what an attacker would try.

Every case states what the engine's builder (dockerd 20.10's) does with the
text; tests/integration/test_dockerfile_engine_agrees.py checks a share of
these on the real engine. Whatever is accepted round-trips: parsing what
we emit gives the same instructions.
"""

import pytest

from sandboxes.errors import BadRequest
from sandboxes.services import dockerfile as df
from sandboxes.services.builds import _check_labels

# What separates a keyword from its arguments, and words of plain lists.
SEPARATORS = ["\t", "\v", "\f", "\r", " "]
# Whitespace to Go (trimmed at the ends of an instruction) that separates nothing.
GO_ONLY_SPACES = [
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u200a",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
]
# Whitespace to Python but not to Go: never trimmed, never a separator.
PYTHON_ONLY_SPACES = ["\x1c", "\x1d", "\x1e", "\x1f"]


def parse(text: str) -> tuple[df.Instruction, ...]:
    result = df.parse(text).instructions
    assert df.parse(df.emit(result)).instructions == result  # round trip
    return result


def refused(text: str, match: str = "") -> BadRequest:
    with pytest.raises(BadRequest, match=match) as info:
        df.parse(text)
    assert info.value.message.startswith(("Line ", "The ", "A ")), info.value.message
    return info.value


# -- whitespace and line ends -----------------------------------------------


@pytest.mark.parametrize("ws", SEPARATORS)
def test_a_separator_splits_everywhere_around_from_and_copy_from(ws):
    text = (
        f"{ws}FROM{ws}python:3.12-slim{ws}AS{ws}base{ws}\n"
        f"{ws}COPY{ws}--from=base{ws}/a{ws}/b{ws}\n"
    )
    found = parse(text)
    assert found[0].args == ("python:3.12-slim", "AS", "base")
    assert found[1].flags == (("from", "base"),) and found[1].args == ("/a", "/b")


@pytest.mark.parametrize("ws", GO_ONLY_SPACES)
def test_go_only_whitespace_is_trimmed_at_the_ends_but_splits_nothing(ws):
    found = parse(f"{ws}FROM python:3.12-slim{ws}\nCOPY /a /c{ws}\n")
    assert found[0].args == ("python:3.12-slim",)
    assert found[1].args == ("/a", "/c")
    refused(f"FROM{ws}python:3.12-slim\n", "unknown instruction")
    inside = f"FROM python:3.12-slim\nCOPY /a{ws}/b /c\n"
    if ws == "\x85":  # a C1 control character: refused inside a line
        refused(inside, "control character")
    else:
        assert parse(inside)[1].args == (f"/a{ws}/b", "/c")


@pytest.mark.parametrize("ws", PYTHON_ONLY_SPACES)
def test_python_only_whitespace_is_not_whitespace_to_the_builder(ws):
    refused(f"{ws}FROM python:3.12-slim\n", "unknown instruction")
    refused(f"FROM python:3.12-slim\nRUN echo{ws}hi\n", "control character")


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_unix_and_windows_line_ends_read_the_same(end):
    found = parse(
        end.join(["FROM python:3.12-slim", "COPY --from=0 /a /b", "CMD x"]) + end
    )
    assert [i.keyword for i in found] == ["FROM", "COPY", "CMD"]
    assert found[2].args == ("x",)


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\u000b", "\u000c"])
def test_no_other_line_break_starts_an_instruction(breaker):
    text = f"FROM python:3.12-slim\nCOPY a b{breaker}FROM evil\n"
    found = df.parse(text).instructions
    assert [i.keyword for i in found] == ["FROM", "COPY"]
    assert "FROM" in " ".join(found[1].args)


def test_a_lone_carriage_return_is_a_separator_not_a_line_end():
    # The builder splits lines at \n only: "\r" hides nothing, it splits words.
    found = parse("FROM python:3.12-slim\rAS\rbase\n")
    assert found[0].stage == "base"
    refused("FROM python:3.12-slim\rCOPY --from=evil / /x\n", "FROM takes an image")


def test_carriage_returns_before_the_line_end_are_dropped_once():
    assert parse("FROM python:3.12-slim\r\r\nCMD x\r\n")[0].args == (
        "python:3.12-slim",
    )
    found = parse("FROM python:3.12-slim\nCMD echo a \\\r\n  b\r\n")
    assert found[1].args == ("echo a   b",)
    # One \r more stays and blocks the continuation (only spaces and tabs may
    # follow): the builder's CMD ends in a backslash, which no one-line
    # instruction can say.
    refused("FROM python:3.12-slim\nCMD echo a \\\r\r\nLABEL x=1\n", "single backslash")


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\x1b", "\x7f", "\x9b"])
def test_control_characters_are_refused_outside_json(ch):
    refused(f"FROM python:3.12-slim\nRUN echo a{ch}b\n", "control character")
    found = parse(f'FROM python:3.12-slim\nRUN ["echo", "a\\u{ord(ch):04x}b"]\n')
    assert found[1].args == ("echo", f"a{ch}b")


# -- byte order marks -------------------------------------------------------


def test_a_byte_order_mark_is_skipped_at_the_start_only():
    assert parse("\ufeffFROM python:3.12-slim\n")[0].keyword == "FROM"
    refused("FROM python:3.12-slim\n\ufeffRUN x\n", "unknown instruction")
    assert df.parse("\ufeff# escape=`\nFROM python:3.12-slim\n").escape == "`"


# -- parser directives ------------------------------------------------------


@pytest.mark.parametrize(
    "head, escape",
    [
        ("# escape=`\n# syntax=x/y\n", "`"),
        ("# syntax=x/y\n# escape=`\n", "`"),
        ("#escape=`\n", "`"),
        ("# ESCAPE = ` \n", "`"),
        ("  # escape=`\n", "`"),
        ("\t# escape=`\n", "`"),
        ("# foo=bar\n# escape=`\n", "\\"),  # an unknown directive ends them
        ("# a comment\n# escape=`\n", "\\"),
        ("\n# escape=`\n", "\\"),  # so does a blank line
        ("#\vescape=`\n", "\\"),  # Go's \s has no \v: not a directive
        ("# escape=\\\n", "\\"),
    ],
)
def test_directives_are_read_until_the_first_line_that_is_not_one(head, escape):
    parsed = df.parse(head + "FROM python:3.12-slim\nRUN a `\nCMD b\n")
    assert parsed.escape == escape
    expected = ["FROM", "RUN", "CMD"] if escape == "\\" else ["FROM", "RUN"]
    assert [i.keyword for i in parsed.instructions] == expected


def test_directives_after_an_instruction_are_comments():
    assert df.parse("FROM python:3.12-slim\n# escape=`\nRUN a `\n").escape == "\\"


@pytest.mark.parametrize(
    "head, match",
    [
        ("# escape=`\n# escape=\\\n", "only one escape"),
        ("# syntax=a\n# Syntax=b\n", "only one syntax"),
        ("# escape=x\n", "escape character"),
        ("# escape=`\t# trailing\n", "escape character"),
    ],
)
def test_bad_directives_are_refused_like_the_builder_refuses_them(head, match):
    with pytest.raises(df.InvalidDockerfile, match=match):
        df.parse(head + "FROM python:3.12-slim\n")


def test_syntax_is_dropped_with_a_note_and_never_emitted():
    parsed = df.parse("# syntax=docker/dockerfile:1\nFROM python:3.12-slim\n")
    assert parsed.notes and "syntax" in parsed.notes[0] and "network" in parsed.notes[0]
    assert df.emit(parsed.instructions) == "FROM python:3.12-slim\n"


# -- escape character changes -----------------------------------------------


def test_under_a_backtick_escape_backslashes_are_plain_in_commands():
    found = parse("# escape=`\nFROM python:3.12-slim\nRUN echo c:\\dir\\ `\n  more\n")
    assert found[1].args == ("echo c:\\dir\\   more",)


def test_a_backtick_escape_that_cannot_be_written_back_exactly_is_refused():
    # COPY sources go through the builder's word expander with the escape
    # character: written back with the default one, \ would mean something else.
    refused("# escape=`\nFROM python:3.12-slim\nCOPY a\\b /c\n", "escape")
    refused("# escape=`\nFROM python:3.12-slim\nENV A=x`y\n", "escape")
    refused("# escape=`\nFROM python:3.12-slim\nRUN echo done\\\n", "single backslash")


def test_json_is_the_same_under_either_escape():
    a = df.parse('# escape=`\nFROM python:3.12-slim\nCMD ["a\\\\b"]\n').instructions
    b = df.parse('FROM python:3.12-slim\nCMD ["a\\\\b"]\n').instructions
    assert a == b and a[1].args == ("a\\b",)


# -- continuations ------------------------------------------------------------


@pytest.mark.parametrize(
    "middle",
    [
        "# a comment\n",
        "    # an indented comment\n",
        "\n",
        "   \t\n",
        "# one\n\n# two\n",
    ],
)
def test_comments_and_empty_lines_inside_a_continuation_are_skipped(middle):
    found = parse(f"FROM python:3.12-slim\nRUN echo a \\\n{middle}  b\nCMD c\n")
    assert found[1].args == ("echo a   b",)
    assert found[2].args == ("c",)


@pytest.mark.parametrize(
    "line, continues",
    [
        ("RUN a \\", True),
        ("RUN a \\ \t ", True),
        ("RUN a\\", True),
        ("RUN a \\\\", False),  # an escaped escape
        ("RUN a \\\\\\", False),  # the builder looks at one character before it only
        ("RUN a \\\x0b", False),  # only spaces and tabs may follow
    ],
)
def test_what_continues_a_line(line, continues):
    lines = df._physical_lines(f"FROM python:3.12-slim\n{line}\nLABEL x=1\n")
    found = list(df._logical_lines(lines, df._Directives()))
    assert (len(found) == 2) is continues


def test_a_line_holding_only_the_escape_character_starts_nothing():
    found = parse("FROM python:3.12-slim\n\\\nLABEL a=1\n")
    assert [i.keyword for i in found] == ["FROM", "LABEL"]


def test_a_continuation_at_the_end_of_the_file_ends_the_instruction():
    found = parse("FROM python:3.12-slim\nRUN echo hi \\")
    assert found[1].args == ("echo hi",)
    with pytest.raises(df.InvalidDockerfile, match="no instruction after it"):
        df.parse("FROM python:3.12-slim\n\\")


def test_a_continuation_can_hide_nothing_from_us():
    # What looks like a COPY --from is part of the RUN, for us as for the builder.
    found = parse("FROM python:3.12-slim\nRUN echo \\\nCOPY --from=evil / /x\n")
    assert [i.keyword for i in found] == ["FROM", "RUN"]
    assert found[1].args == ("echo COPY --from=evil / /x",)


# -- keywords and forms -------------------------------------------------------


def test_keywords_are_case_insensitive_the_way_go_lowers_them():
    found = parse("fRoM python:3.12-slim\nWOR\u212aDIR /app\nLABEL a=1\n")
    assert [i.keyword for i in found] == ["FROM", "WORKDIR", "LABEL"]
    # Python upper-cases U+017F to S; Go does not lower it to s.
    refused('FROM python:3.12-slim\n\u017fHELL ["sh"]\n', "unknown instruction")


def test_as_folds_like_go_equal_fold():
    assert parse("FROM python:3.12-slim a\u017f Base\n")[0].stage == "base"


def test_json_and_shell_forms():
    found = parse(
        "FROM python:3.12-slim\n"
        'CMD ["a", "b"]\n'
        "CMD [ -f x ] && echo y\n"
        'CMD ["a",\t"b"]\n'
        'ENTRYPOINT ["a" , "b"  ]\n'
    )
    assert [(i.form, i.args) for i in found[1:]] == [
        ("json", ("a", "b")),
        ("shell", ("[ -f x ] && echo y",)),
        ("json", ("a", "b")),
        ("json", ("a", "b")),
    ]


def test_text_after_a_json_array_is_refused_rather_than_dropped():
    refused('FROM python:3.12-slim\nCMD ["a"] ; rm -rf /\n', "after the JSON array")


def test_a_json_array_of_anything_but_strings_is_invalid():
    for body in ("[1]", '["a", null]', '[["a"]]', "[" * 5000 + "]" * 5000):
        with pytest.raises(df.InvalidDockerfile):
            df.parse(f"FROM python:3.12-slim\nCMD {body}\n")


def test_env_and_label_forms():
    found = parse(
        "FROM python:3.12-slim\n"
        'ENV A=1 B="two words" C=x\\ y\n'
        "ENV OLD a value with spaces\n"
        'LABEL "com.example.vendor"=ACME\n'
    )
    assert found[1].pairs() == [("A", "1"), ("B", '"two words"'), ("C", "x\\ y")]
    assert (found[2].form, found[2].args) == ("legacy", ("OLD", "a value with spaces"))
    assert found[3].pairs() == [('"com.example.vendor"', "ACME")]


# -- flags ---------------------------------------------------------------------


def test_flags_are_read_with_quotes_and_backslashes():
    found = parse('FROM python:3.12-slim\nCOPY --"from"=0 --chown=1\\:1 a b\n')
    assert found[1].flags == (("from", "0"), ("chown", "1:1"))


@pytest.mark.parametrize(
    "line, match",
    [
        ("FROM --platform=linux/arm64 python:3.12-slim", "--platform"),
        ("COPY --chmod=755 a b", "--chmod"),
        ("ADD --chmod=755 a b", "--chmod"),
        ("RUN --mount=type=cache,target=/x true", "--mount"),
        ("COPY --from=$IMAGE a b", "build arguments"),
        ("COPY --chown=$USER a b", "build arguments"),
        ("COPY --from=a\u00e9 a b", "ASCII"),
        ("HEALTHCHECK --interval=1 CMD true", "--interval"),
    ],
)
def test_flags_the_lab_does_not_pass_on(line, match):
    head = "" if line.startswith("FROM") else "FROM python:3.12-slim\n"
    refused(head + line + "\n", match)


@pytest.mark.parametrize(
    "line",
    [
        "COPY --link a b",
        "RUN --network=none true",
        "COPY --from=a --from=b x y",
        "COPY --from a b",
        "WORKDIR --x=1 /app",
        "ONBUILD --x=1 RUN true",
        "HEALTHCHECK --interval=5s NONE",
    ],
)
def test_flags_the_builder_does_not_know_are_invalid(line):
    with pytest.raises(df.InvalidDockerfile):
        df.parse("FROM python:3.12-slim\n" + line + "\n")


def test_an_argument_starting_with_two_dashes_is_written_back_after_the_flag_end():
    found = parse("FROM python:3.12-slim\nCMD -- --help\n")
    assert found[1].args == ("--help",)
    assert df.emit_line(found[1]) == "CMD -- --help"


# -- ADD, heredocs -------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "http://127.0.0.1:8000/lessons/",
        "https://example.org/x.tar.gz",
        "HTTP://127.0.0.1/",
        "ftp://example.org/x",
        "file:///etc/passwd",
        "git://example.org/repo.git",
        "git@github.com:moby/moby.git",
        "github.com/moby/moby",
        "https://github.com/moby/moby.git#master",
        "user@host:path",
        "repo.git",
    ],
)
def test_add_never_fetches_from_the_network(source):
    for line in (
        f"ADD {source} /c",
        f'ADD ["{source}", "/c"]',
        f"ONBUILD ADD {source} /c",
    ):
        error = refused(f"FROM python:3.12-slim\n{line}\n", "network")
        assert error.message.startswith("Line 2:")


@pytest.mark.parametrize(
    "source",
    [
        '"http://127.0.0.1/"',
        "h\\ttp://127.0.0.1/",
        "$URL",
        "${URL}",
        "'http://x/'",
        "\ufeffhttp://127.0.0.1/",
    ],
)
def test_add_sources_are_written_out_plainly(source):
    refused(
        f"FROM python:3.12-slim\nARG URL=http://127.0.0.1/\nADD {source} /c\n",
        "plainly",
    )


def test_add_of_a_local_file_and_copy_of_anything_pass():
    found = parse("FROM python:3.12-slim\nADD app.tar.gz /srv/\nCOPY http://x/ /c\n")
    assert found[1].args == ("app.tar.gz", "/srv/")


@pytest.mark.parametrize(
    "line",
    [
        "RUN <<EOF",
        "RUN cat <<-'EOF' > /x",
        'RUN python3 <<"EOT"',
        "COPY <<EOF /x",
        "RUN 3<<END cat",
    ],
)
def test_heredocs_are_refused(line):
    refused(f"FROM python:3.12-slim\n{line}\necho hi\nEOF\n", "heredoc")


def test_shifts_and_json_are_not_heredocs():
    parse("FROM python:3.12-slim\nRUN echo $((1<<3))\n")
    parse('FROM python:3.12-slim\nRUN ["sh", "-c", "cat <<EOF\\nhi\\nEOF"]\n')


# -- ONBUILD -------------------------------------------------------------------


def test_onbuild_holds_one_instruction_checked_like_any_other():
    found = parse("FROM python:3.12-slim\nONBUILD   copy --chown=1:1 a b\n")
    inner = found[1].inner
    assert (inner.keyword, inner.flags, inner.args) == (
        "COPY",
        (("chown", "1:1"),),
        ("a", "b"),
    )
    assert df.emit_line(found[1]) == "ONBUILD COPY --chown=1:1 a b"


@pytest.mark.parametrize(
    "line, error",
    [
        ("ONBUILD COPY --from=builder / /x", BadRequest),
        ("ONBUILD RUN --mount=type=cache,target=/x true", BadRequest),
        ("ONBUILD RUN <<EOF", BadRequest),
        ("ONBUILD ONBUILD RUN x", df.InvalidDockerfile),
        ("ONBUILD FROM python:3.12-slim", df.InvalidDockerfile),
        ("ONBUILD MAINTAINER me", df.InvalidDockerfile),
        ("ONBUILD", df.InvalidDockerfile),
        ("ONBUILD " * 9000 + "RUN x", df.InvalidDockerfile),
    ],
)
def test_onbuild_refusals(line, error):
    with pytest.raises(error):
        df.parse(f"FROM python:3.12-slim\n{line}\n")


def test_a_stored_trigger_is_checked_like_an_onbuild_instruction():
    assert df.read_trigger("RUN echo hi").args == ("echo hi",)
    for trigger in ("COPY --from=x / /y", "FROM x", "RUN a\nRUN b", "ADD http://x/ /y"):
        with pytest.raises(BadRequest):
            df.read_trigger(trigger)


# -- structure -------------------------------------------------------------------


def test_only_arg_may_come_before_the_first_from():
    parse("ARG BASE=python:3.12-slim\nFROM python:3.12-slim\n")
    refused("RUN echo no base image\n", "starts with a FROM")
    refused("ARG A=1\n", "needs a FROM")


def test_a_stage_name_is_used_once_and_starts_with_a_letter():
    with pytest.raises(df.InvalidDockerfile, match="twice"):
        df.parse("FROM python:3.12-slim AS a\nFROM python:3.12-slim AS A\n")
    with pytest.raises(df.InvalidDockerfile, match="stage name"):
        df.parse("FROM python:3.12-slim AS 1x\n")


def test_a_dockerfile_holds_a_bounded_number_of_instructions():
    parse("FROM python:3.12-slim\n" + "LABEL a=1\n" * (df.MAX_INSTRUCTIONS - 1))
    refused(
        "FROM python:3.12-slim\n" + "LABEL a=1\n" * df.MAX_INSTRUCTIONS, "at most 100"
    )


def test_an_over_long_instruction_is_refused():
    refused("FROM python:3.12-slim\nRUN " + "x" * 70_000 + "\n", "too long")


def test_text_that_is_not_valid_unicode_is_refused():
    refused("FROM python:3.12-slim\nRUN echo \ud800\n", "not valid text")
    refused('FROM python:3.12-slim\nCMD ["\\ud800"]\n', "surrogate")


# -- labels the lab keeps for itself ---------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "LABEL org.dockerlab.sandbox=x",
        'LABEL "org.dockerlab.kit"=1',
        "LABEL org.docker\\lab.owner=1",
        "LABEL 'org.dockerlab'.x=1",
        "LABEL ORG.DOCKERLAB.x=1",
        "LABEL org.dockerlab.sandbox x",
        "LABEL \ufefforg.dockerlab.x=1",
        "LABEL $KEY=1",
        "ONBUILD LABEL org.dockerlab.expires=never",
    ],
)
def test_labels_of_the_lab_cannot_be_set_however_they_are_written(line):
    for ins in df.parse(f"FROM python:3.12-slim\n{line}\n").instructions[1:]:
        with pytest.raises(BadRequest):
            _check_labels(ins)


def test_other_labels_pass():
    for ins in parse(
        'FROM python:3.12-slim\nLABEL "com.example.vendor"="ACME" b=org.dockerlab.x\n'
    ):
        _check_labels(ins)
