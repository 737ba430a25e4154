"""The engine's multiplexed log stream is split into payloads in bulk."""

from engine.client import _demux


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_it_joins_the_payloads_of_every_whole_frame():
    data = frame(1, b"out line\n") + frame(2, b"err line\n") + frame(1, b"")
    assert _demux(data) == (b"out line\nerr line\n", b"")


def test_it_keeps_a_cut_frame_for_the_next_read():
    data = frame(1, b"first\n") + frame(1, b"second\n")
    payloads, rest = _demux(data[:-3])
    assert payloads == b"first\n"
    payloads, rest = _demux(rest + data[-3:])
    assert (payloads, rest) == (b"second\n", b"")


def test_it_waits_for_a_whole_header():
    assert _demux(b"\x01\x00\x00") == (b"", b"\x01\x00\x00")
