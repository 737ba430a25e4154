"""The engine's multiplexed log stream is split into its frames' payloads in bulk."""

from engine.client import ChunkedDecoder, _entries, _frames


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_it_gives_the_payload_of_every_whole_frame():
    data = frame(1, b"out line\n") + frame(2, b"err line\n") + frame(1, b"")
    assert _frames(data) == ([b"out line\n", b"err line\n", b""], b"")


def test_it_keeps_a_cut_frame_for_the_next_read():
    data = frame(1, b"first\n") + frame(1, b"second\n")
    payloads, rest = _frames(data[:-3])
    assert payloads == [b"first\n"]
    payloads, rest = _frames(rest + data[-3:])
    assert (payloads, rest) == ([b"second\n"], b"")


def test_it_waits_for_a_whole_header():
    assert _frames(b"\x01\x00\x00") == ([], b"\x01\x00\x00")


def test_tty_output_is_cut_into_entries_at_newlines():
    data = b"2026-01-01T00:00:01.000000000Z a\n2026-01-01T00:00:02.000000000Z b\n2026-01"
    assert _entries(data, tty=True) == (
        [b"2026-01-01T00:00:01.000000000Z a\n", b"2026-01-01T00:00:02.000000000Z b\n"],
        b"2026-01",
    )


def chunked(*pieces: bytes) -> bytes:
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) if i == 1 else b"%x\r\n%s\r\n" % (len(p), p)
                    for i, p in enumerate(pieces))
    return body + b"0\r\n\r\n"


def test_it_undoes_chunked_coding_fed_one_byte_at_a_time():
    data = chunked(b"hello ", b"chunked", b" world" * 50)
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(data[i : i + 1]) for i in range(len(data)))
    assert out == b"hello chunked" + b" world" * 50
    assert decoder.done


def test_it_undoes_chunked_coding_fed_in_one_piece_and_stops_at_the_end():
    decoder = ChunkedDecoder()
    assert decoder.feed(chunked(b"a" * 20, b"b") + b"trailing") == b"a" * 20 + b"b"
    assert decoder.done
