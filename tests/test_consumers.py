"""The chatroom consumers in-process, through the real ASGI application and an in-memory layer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

_OWN_SETTINGS = "DJANGO_SETTINGS_MODULE" not in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatroom.settings")

from channels.testing import WebsocketCommunicator  # noqa: E402 - after the settings are named
from django.test import override_settings  # noqa: E402

from chatroom.asgi import application  # noqa: E402 - sets Django up with chatroom.settings, once for this process
from tests.servers import UNIT  # noqa: E402

if _OWN_SETTINGS:
    # Django is set up now; the variable would only leak into the processes later tests start (a user's pytest
    # run, which pytest-django would point at our settings).
    del os.environ["DJANGO_SETTINGS_MODULE"]

ORIGIN = [(b"origin", b"http://127.0.0.1")]
TIMEOUT = 2 * UNIT


@pytest.fixture(autouse=True)
def in_memory_layer() -> Iterator[None]:
    """A fresh in-memory channel layer for each test, whatever REDIS_URL says."""
    layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # override_settings fires setting_changed, which makes Channels drop its cached layer.
    with override_settings(CHANNEL_LAYERS=layers):
        yield


class Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def chat_log() -> Iterator[list[logging.LogRecord]]:
    """Records the `chat` logger emits (it does not propagate, so caplog would miss them)."""
    handler = Records()
    logger = logging.getLogger("chat")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run one test body on a fresh event loop, bounded by the test timeout unit."""
    return asyncio.run(asyncio.wait_for(coro, 10 * UNIT))


async def connected(path: str, headers: list[tuple[bytes, bytes]] = ORIGIN) -> WebsocketCommunicator:
    """A communicator whose handshake the application accepted."""
    comm = WebsocketCommunicator(application, path, headers=headers)
    ok, _ = await comm.connect(TIMEOUT)
    assert ok, f"handshake to {path} was refused"
    return comm


def test_room_replies_ok_to_every_message() -> None:
    """The seed's room/ consumer answers text and binary frames with the text OK."""

    async def body() -> None:
        comm = await connected("/room/lobby")
        for _ in range(3):
            await comm.send_to(text_data="hello")
            assert await comm.receive_from(TIMEOUT) == "OK"
        await comm.send_to(bytes_data=b"\x00\x01")
        assert await comm.receive_from(TIMEOUT) == "OK"
        await comm.disconnect(TIMEOUT)

    run(body())


def test_async_room_replies_ok_to_every_message() -> None:
    """The aroom/ async consumer keeps the same OK contract as room/."""

    async def body() -> None:
        comm = await connected("/aroom/lobby")
        await comm.send_to(text_data="hello")
        assert await comm.receive_from(TIMEOUT) == "OK"
        await comm.send_to(bytes_data=b"\xff")
        assert await comm.receive_from(TIMEOUT) == "OK"
        await comm.disconnect(TIMEOUT)

    run(body())


@pytest.mark.parametrize("route", ["chat", "achat"])
def test_broadcast_reaches_the_room_and_not_another_room(route: str) -> None:
    """A chat/ (or achat/, async) message reaches every member of its room, all keys kept plus group, no one else."""

    async def body() -> None:
        sender = await connected(f"/{route}/alpha")
        member = await connected(f"/{route}/alpha")
        outsider = await connected(f"/{route}/beta")
        sent = {"sender": "u1", "seq": 17, "sent_ns": 1732400000123456789, "text": "hi", "extra": [1, None]}
        await sender.send_to(text_data=json.dumps(sent))

        assert await sender.receive_from(TIMEOUT) == "OK"
        assert json.loads(await sender.receive_from(TIMEOUT)) == {**sent, "group": "alpha"}
        assert json.loads(await member.receive_from(TIMEOUT)) == {**sent, "group": "alpha"}
        assert await outsider.receive_nothing(0.2 * UNIT)
        assert await member.receive_nothing(0.1 * UNIT)
        for comm in (sender, member, outsider):
            await comm.disconnect(TIMEOUT)

    run(body())


@pytest.mark.parametrize("route", ["chat", "achat"])
def test_broadcast_sender_gets_ok_before_its_own_message(route: str) -> None:
    """On chat/ (and achat/) the sender's first reply is OK and its second is its own broadcast, each time."""

    async def body() -> None:
        sender = await connected(f"/{route}/solo")
        for seq in range(3):
            await sender.send_to(text_data=json.dumps({"sender": "u1", "seq": seq, "sent_ns": 1}))
            assert await sender.receive_from(TIMEOUT) == "OK"
            assert json.loads(await sender.receive_from(TIMEOUT))["seq"] == seq
        await sender.disconnect(TIMEOUT)

    run(body())


@pytest.mark.parametrize("text", ["plain words", "[1, 2]", "42", '"a string"', "{not json"])
def test_broadcast_wraps_text_that_is_not_a_json_object(text: str) -> None:
    """Text that is not a JSON object arrives as {"group": ..., "text": <the raw text>}."""

    async def body() -> None:
        sender = await connected("/chat/raw")
        member = await connected("/chat/raw")
        await sender.send_to(text_data=text)
        assert await sender.receive_from(TIMEOUT) == "OK"
        assert json.loads(await member.receive_from(TIMEOUT)) == {"group": "raw", "text": text}
        await sender.disconnect(TIMEOUT)
        await member.disconnect(TIMEOUT)

    run(body())


def test_broadcast_member_that_left_gets_nothing() -> None:
    """A member that disconnected is out of the group; the rest still get the message."""

    async def body() -> None:
        sender = await connected("/chat/gone")
        leaver = await connected("/chat/gone")
        await leaver.disconnect(TIMEOUT)
        await sender.send_to(text_data='{"seq": 1}')
        assert await sender.receive_from(TIMEOUT) == "OK"
        assert json.loads(await sender.receive_from(TIMEOUT)) == {"seq": 1, "group": "gone"}
        await sender.disconnect(TIMEOUT)

    run(body())


@pytest.mark.parametrize("path", ["/foo", "/", "/room/", "/rooms"])
def test_unknown_path_is_refused_with_one_warning(path: str, chat_log: list[logging.LogRecord]) -> None:
    """An unrouted path is closed before accept with one warning, and no exception escapes."""

    async def body() -> None:
        comm = WebsocketCommunicator(application, path, headers=ORIGIN)
        ok, _ = await comm.connect(TIMEOUT)
        assert ok is False
        await comm.disconnect(TIMEOUT)  # re-raises anything the application raised

    run(body())
    assert [r.getMessage() for r in chat_log] == [f"rejected websocket to unknown path {path}"]
    assert chat_log[0].levelno == logging.WARNING


def test_non_ascii_room_name_is_refused() -> None:
    """A chat/ room name Channels cannot use as a group name is refused, not a server error."""

    async def body() -> None:
        comm = WebsocketCommunicator(application, "/chat/%C3%A9t%C3%A9", headers=ORIGIN)
        ok, _ = await comm.connect(TIMEOUT)
        assert ok is False
        await comm.disconnect(TIMEOUT)

    run(body())


@pytest.mark.parametrize(
    "headers",
    [[(b"origin", b"http://evil.example")], []],
    ids=["foreign-origin", "no-origin"],
)
def test_foreign_origin_is_refused(headers: list[tuple[bytes, bytes]]) -> None:
    """AllowedHostsOriginValidator refuses an Origin outside ALLOWED_HOSTS, and a missing one."""

    async def body() -> None:
        comm = WebsocketCommunicator(application, "/room/lobby", headers=headers)
        ok, _ = await comm.connect(TIMEOUT)
        assert ok is False
        await comm.disconnect(TIMEOUT)

    run(body())


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and the infinities, as RFC 8259 parsers (JavaScript's JSON.parse) do."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


DEEP_ARRAY = "[" * 100_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000
HUGE_INT = '{"n": ' + "9" * 5000 + "}"


@pytest.mark.parametrize(
    "text",
    [DEEP_ARRAY, DEEP_OBJECT, "NaN", '{"x": NaN}', '{"x": Infinity}', '{"x": [-Infinity]}', HUGE_INT],
    ids=["deep-array", "deep-object", "nan", "nan-in-object", "infinity", "minus-infinity", "huge-int"],
)
def test_broadcast_relays_text_json_refuses_as_wrapped_text(text: str) -> None:
    """Input json.loads raises on (deep nesting, huge ints) or must not relay (NaN) arrives wrapped as valid JSON."""

    async def body() -> None:
        sender = await connected("/chat/bad")
        member = await connected("/chat/bad")
        await sender.send_to(text_data=text)
        assert await sender.receive_from(TIMEOUT) == "OK"
        for comm in (sender, member):
            assert strict_json(await comm.receive_from(TIMEOUT)) == {"group": "bad", "text": text}
        # The consumer survived: the next message is served as usual.
        await sender.send_to(text_data='{"seq": 2}')
        assert await sender.receive_from(TIMEOUT) == "OK"
        for comm in (sender, member):
            assert strict_json(await comm.receive_from(TIMEOUT)) == {"seq": 2, "group": "bad"}
        await sender.disconnect(TIMEOUT)
        await member.disconnect(TIMEOUT)

    run(body())


def members(group: str) -> set[str]:
    """Channel names in `group` of the test's in-memory layer."""
    from channels.layers import get_channel_layer  # after override_settings made the layer

    return set(get_channel_layer().groups.get(group, {}))


@pytest.mark.parametrize("route", ["chat", "achat"])
def test_broadcast_consumer_that_crashes_leaves_its_group(monkeypatch: pytest.MonkeyPatch, route: str) -> None:
    """A chat/ (or achat/) consumer whose handler raises is out of its group, so messages stop piling up for it."""
    from chat import consumers

    async def body() -> None:
        stayer = await connected(f"/{route}/crash")
        crasher = await connected(f"/{route}/crash")
        assert len(members("room_crash")) == 2

        def explode(text: str, group: str) -> str:
            raise RuntimeError("handler bug")

        monkeypatch.setattr(consumers, "broadcast_text", explode)
        await crasher.send_to(text_data="boom")
        assert await crasher.receive_from(TIMEOUT) == "OK"  # sent before the broadcast step raised
        with pytest.raises(RuntimeError, match="handler bug"):
            await crasher.receive_from(TIMEOUT)  # the communicator re-raises the application's exception
        assert len(members("room_crash")) == 1
        await stayer.disconnect(TIMEOUT)
        assert members("room_crash") == set()

    run(body())


@pytest.mark.parametrize("route", ["chat", "achat"])
def test_broadcast_consumer_cancelled_by_the_server_leaves_its_group(route: str) -> None:
    """Daphne cancels an instance that outlives its client (application_close_timeout): it leaves too."""

    async def body() -> None:
        comm = await connected(f"/{route}/cancel")
        assert len(members("room_cancel")) == 1
        comm.future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await comm.future
        assert members("room_cancel") == set()

    run(body())
