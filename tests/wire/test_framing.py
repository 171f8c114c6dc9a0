"""RFC 6455 framing: the decoder against every frame shape, and where mask keys come from."""

from __future__ import annotations

import pytest

from chanload.exceptions import ProtocolError
from chanload.wire import framing
from chanload.wire.framing import BINARY, CLOSE, CONTINUATION, PING, TEXT, Decoder
from tests.apps.rawws import frame


def decode_all(data: bytes, step: int | None = None) -> list[tuple[int, bytes]]:
    """Feed `data` whole or `step` bytes at a time; collect everything the decoder yields."""
    decoder, out = Decoder(), []
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step])
        while (item := decoder.next()) is not None:
            out.append(item)
    assert not decoder.buffer, "bytes left over"
    return out


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("step", [None, 1, 7, 4096])
def test_every_length_encoding_in_any_read_pattern(length, step):
    """7-bit, 16-bit and 64-bit lengths decode the same whether bytes come at once or one by one."""
    payload = bytes(i % 253 for i in range(length))
    data = frame(BINARY, payload) + frame(TEXT, b"next")
    if step == 1 and length > 1000:
        step = 997  # byte-by-byte through 70 kB is slow and proves nothing more
    assert decode_all(data, step) == [(BINARY, payload), (TEXT, b"next")]


def test_a_fragmented_message_with_a_control_frame_between():
    data = (
        frame(TEXT, b"a", fin=False)
        + frame(PING, b"p")
        + frame(CONTINUATION, b"b", fin=False)
        + frame(CONTINUATION, b"c")
    )
    assert decode_all(data, 3) == [(PING, b"p"), (TEXT, b"abc")]


def test_nothing_until_a_frame_is_whole():
    decoder = Decoder()
    data = frame(TEXT, b"hello")
    decoder.feed(data[:-1])
    assert decoder.next() is None
    decoder.feed(data[-1:])
    assert decoder.next() == (TEXT, b"hello")
    assert decoder.next() is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (frame(TEXT, b"x", mask=True), "masked"),
        (frame(TEXT, b"x", rsv=4), "reserved bits"),
        (frame(CONTINUATION, b"x"), "no message to continue"),
        (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "before the previous one"),
        (frame(PING, b"x", fin=False), "control frame"),
        (frame(CLOSE, b"x" * 126), "control frame"),
        (frame(0x3, b"x"), "unknown opcode"),
    ],
    ids=["masked", "rsv", "orphan-continuation", "interleaved-messages", "fragmented-ping", "long-close", "opcode"],
)
def test_protocol_violations_are_named(data, words):
    decoder = Decoder()
    decoder.feed(data)
    with pytest.raises(ProtocolError, match=words):
        decoder.next()


def test_mask_keys_come_from_urandom_one_call_per_1024_frames(monkeypatch):
    calls = []

    def urandom(n):
        calls.append(n)
        return bytes(range(256)) * (n // 256)

    monkeypatch.setattr(framing.os, "urandom", urandom)
    monkeypatch.setattr(framing, "masks", framing._Masks())
    frames = [framing.encode(TEXT, b"abcd") for _ in range(1025)]
    assert calls == [4096, 4096]
    keys = [f[2:6] for f in frames]
    assert keys[0] == bytes((0, 1, 2, 3)) and keys[1] == bytes((4, 5, 6, 7))
    # Unmasking with the key in the frame gives the payload back (section 5.3).
    assert all(bytes(b ^ k[i % 4] for i, b in enumerate(f[6:])) == b"abcd" for f, k in zip(frames, keys, strict=True))
