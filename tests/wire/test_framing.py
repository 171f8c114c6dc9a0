"""RFC 6455 framing: the decoder against every frame shape, and where mask keys come from."""

from __future__ import annotations

import pytest

from chanload.exceptions import MessageTooBig, ProtocolError
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


def test_a_frame_over_the_limit_is_refused_at_its_header():
    """A header that announces 2^62 bytes fails as soon as its 10 bytes are in, with nothing of it buffered."""
    decoder = Decoder(max_message=1000)
    decoder.feed(bytes((0x81, 127)) + (1 << 62).to_bytes(8, "big"))
    with pytest.raises(MessageTooBig) as caught:
        decoder.next()
    assert caught.value.limit == 1000 and caught.value.size == 1 << 62
    assert "over the 1000-byte limit (--ws-max-message)" in str(caught.value)
    exactly = Decoder(max_message=1000)  # the limit itself is allowed
    exactly.feed(frame(TEXT, b"x" * 1000))
    assert exactly.next() == (TEXT, b"x" * 1000)


def test_fragments_are_counted_against_the_limit_and_kept_in_one_buffer():
    """600 + 400 bytes pass a 1000-byte limit; one more fragment of 1 does not, refused at its header."""
    decoder = Decoder(max_message=1000)
    decoder.feed(frame(TEXT, b"a" * 600, fin=False) + frame(CONTINUATION, b"b" * 400, fin=False))
    assert decoder.next() is None
    assert isinstance(decoder._fragments, bytearray) and len(decoder._fragments) == 1000
    decoder.feed(frame(CONTINUATION, b"c", fin=True)[:2])  # the header alone
    with pytest.raises(MessageTooBig):
        decoder.next()
    whole = Decoder(max_message=1000)
    whole.feed(frame(TEXT, b"a" * 600, fin=False) + frame(CONTINUATION, b"b" * 400))
    assert whole.next() == (TEXT, b"a" * 600 + b"b" * 400)


def test_a_long_control_frame_is_refused_at_its_header():
    """A ping that says it holds 2^62 bytes is a protocol error before any of it is read (section 5.5)."""
    decoder = Decoder()
    decoder.feed(bytes((0x89, 127)) + (1 << 62).to_bytes(8, "big"))
    with pytest.raises(ProtocolError, match="control frame"):
        decoder.next()


def test_ready_says_whether_a_whole_frame_is_buffered():
    decoder = Decoder()
    assert not decoder.ready()
    data = frame(PING, b"a") + frame(TEXT, b"x" * 300)
    decoder.feed(data[:3])
    assert decoder.ready()  # the ping is whole
    assert decoder.next() == (PING, b"a") and not decoder.ready()
    decoder.feed(data[3:-1])
    assert not decoder.ready()
    decoder.feed(data[-1:])
    assert decoder.ready() and decoder.next() == (TEXT, b"x" * 300)
