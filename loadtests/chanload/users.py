"""Locust users that hold one websocket each: echo round trips and broadcast delivery.

Request events, one per logical action, named by route template (`room/[group]`):
  WS connect   the handshake, from TCP connect to the 101 answer
  WS message   one message's round trip: send -> the reply that matches --ws-expect
  WS delivery  a broadcast from any member reaching this user, from the `sent_ns` it carries
"""

from __future__ import annotations

from locust import User, constant, task
from locust.user.task import LOCUST_STATE_STOPPING

import itertools
import json
import os
import random
import time

import gevent
from gevent.queue import Empty, Queue

from chanload.client import ConnectionRefused, ReplyTimeout, WrongReply, WsClient, WsError
from chanload.messages import Expect, Payload
from chanload.options import route_name
from chanload.pacing import Schedule, ThinkTime
from chanload.state import State, state

CONNECT = "WS connect"
MESSAGE = "WS message"
CORRECTED = "WS message corrected"
SEND_LAG = "WS send lag"  # open model: actual send - intended send, the generator's own lateness
DELIVERY = "WS delivery"

RECONNECT_PAUSE = 0.2  # after a failed handshake, so a dead target is not hammered in a hot loop
_ids = itertools.count()


class ChannelsUser(User):
    """Abstract websocket user: one connection to a random room, messages paced and checked."""

    abstract = True
    route = "room/{group}"  # default path template under --host
    payload = "hello"  # default message (--ws-payload overrides)
    expect = "OK"  # default expected reply (--ws-expect overrides)
    wait_time = constant(0)  # pacing is ours (think time or schedule), see on_start

    def on_start(self) -> None:
        self._cl: State = state(self.environment)
        s = self._cl.settings
        self._template = s.path or self.route
        self._name = route_name(self._template)
        self._payload = s.payload or Payload(self.payload)
        self._expect = s.expect or Expect.parse(self.expect)
        self._pacer = Schedule(s.rate) if s.rate else ThinkTime(*s.think)
        self.user_id = f"{os.getpid()}.{next(_ids)}"
        self._client: WsClient | None = None
        self._room = ""
        self._connections = 0
        self._sender = ""  # this connection's id: {user} in payloads, the receiver id for broadcasts
        self._seq = 0
        self._on_connection = 0
        gevent.sleep(self._pacer.start_phase())

    def on_stop(self) -> None:
        self._disconnect()

    @task
    def converse(self) -> None:
        """Messages, one after another, until Locust stops this user.

        The loop stays in this task instead of returning to Locust after every message: a return
        costs Locust's task bookkeeping and a switch through the event loop (wait_time 0), which was
        a tenth of the CPU of a round trip. Locust's graceful stop (--stop-timeout) still ends the
        user after its current message; a subclass with more tasks gets one message per turn.
        """
        limit = self._cl.settings.messages_per_connection
        only_task = len(self.tasks) == 1
        while True:
            if self._client is None and not self._connect():
                gevent.sleep(RECONNECT_PAUSE)
                return
            self._round_trip(self._pacer.next_send())
            if limit and self._on_connection >= limit:
                self._disconnect()
            if not only_task or self._state == LOCUST_STATE_STOPPING:
                return

    # Connection

    def _connect(self) -> bool:
        s = self._cl.settings
        self._room = f"g{random.randrange(s.groups)}"
        url = f"{s.host}/{self._template.replace('{group}', self._room)}"
        client = WsClient(
            url, connect_timeout=s.connect_timeout, reply_timeout=s.reply_timeout, headers=list(s.headers)
        )
        start = time.perf_counter()
        try:
            client.connect()
        except WsError as exc:
            self._fire(CONNECT, time.perf_counter() - start, 0, exc)
            self._cl.ledger.connect_failures += 1
            if isinstance(exc, ConnectionRefused):
                self._cl.ledger.last_refused_at = time.time()
            self._cl.ledger.failure_kinds[exc.kind] += 1
            return False
        self._fire(CONNECT, time.perf_counter() - start, 0, None)
        self._cl.ledger.connects += 1
        self._cl.open_connections += 1
        self._client = client
        self._connections += 1
        self._sender = f"{self.user_id}.{self._connections}"
        self._on_connection = 0
        self._seq = 0
        if isinstance(self._pacer, Schedule):
            self._pacer.restart()
        self._connected(client)
        return True

    def _connected(self, client: WsClient) -> None:
        """Called when a connection is up, before its first message."""

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._cl.open_connections -= 1
            client.close()

    # Messages

    def _message(self) -> str:
        # {user} names this connection, since {seq} restarts with each connection: a receiver then
        # never mistakes a new connection's numbers for duplicates of the old one's.
        return self._payload.render(user=self._sender, seq=self._seq, group=self._room, sent_ns=time.time_ns())

    def _round_trip(self, intended: float) -> None:
        client = self._client
        assert client is not None
        message = self._message()
        ledger = self._cl.ledger
        ledger.sent += 1
        self._seq += 1
        self._on_connection += 1
        start = time.perf_counter()
        try:
            client.send(message)
            reply, end = self._await_reply(client)
        except WsError as exc:
            self._failed(time.perf_counter() - start, exc)
            return
        except BaseException:  # GreenletExit when the run stops: the message is in flight
            ledger.in_flight += 1
            raise
        if end < start:
            # A frame the server pushed unasked sat in the read buffer from before this send; taken as
            # the reply, it arrived before it was asked for. Recorded as 0, never negative, and counted.
            ledger.early_replies += 1
            end = start
        if not self._expect.matches(reply):
            self._failed(end - start, WrongReply(self._expect.describe(), reply))
            return
        ledger.ok += 1
        ledger.last_ok_at = time.time()
        self._fire(MESSAGE, end - start, len(reply), None)
        if isinstance(self._pacer, Schedule):
            self._cl.recorder.record(CORRECTED, self._name, end - intended)
            self._cl.recorder.record(SEND_LAG, self._name, start - intended)

    def _await_reply(self, client: WsClient) -> tuple[str | bytes, float]:
        """The reply and when it reached the socket (perf_counter), not when this greenlet got to it."""
        reply = client.recv()
        return reply, client.arrival

    def _failed(self, seconds: float, exc: WsError) -> None:
        self._cl.ledger.failed += 1
        self._cl.ledger.failure_kinds[exc.kind] += 1
        self._fire(MESSAGE, seconds, 0, exc)
        if exc.fatal and self._client is not None:
            self._cl.open_connections -= 1
            client, self._client = self._client, None
            client.abort()

    def _fire(self, kind: str, seconds: float, length: int, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=self._name,
            response_time=seconds * 1000.0,
            response_length=length,
            exception=exc,
            context={},
        )


class EchoUser(ChannelsUser):
    """Sends a message, waits for the expected reply, repeats: the seed's OK contract."""

    abstract = True


class BroadcastUser(ChannelsUser):
    """A room member: sends numbered messages, acknowledged by OK, and receives everyone's broadcasts.

    Broadcasts carry `sender`, `seq` and `sent_ns` (the target's JSON shape): delivery latency is
    measured from that timestamp, and gaps, duplicates and reordering are counted per sender.
    """

    abstract = True
    route = "chat/{group}"
    payload = '{"sender": "{user}", "seq": {seq}, "sent_ns": {sent_ns}, "text": "hello"}'

    def on_start(self) -> None:
        self._acks: Queue = Queue()
        self._reader: gevent.Greenlet | None = None
        super().on_start()

    def _connected(self, client: WsClient) -> None:
        self._acks = Queue()
        self._reader = gevent.spawn(self._read, client, self._acks, self._sender, self._room)

    def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        super()._disconnect()
        if reader is not None:
            reader.kill(block=False)

    def _failed(self, seconds: float, exc: WsError) -> None:
        reader = self._reader if exc.fatal else None
        super()._failed(seconds, exc)
        if reader is not None:
            self._reader = None
            reader.kill(block=False)

    def _await_reply(self, client: WsClient) -> tuple[str | bytes, float]:
        try:
            kind, value, arrival = self._acks.get(timeout=self._cl.settings.reply_timeout)
        except Empty:
            raise ReplyTimeout(f"reply timeout: no reply within {self._cl.settings.reply_timeout:g}s") from None
        if kind == "error":
            raise value
        return value, arrival

    def _read(self, client: WsClient, acks: Queue, receiver: str, group: str) -> None:
        book = self._cl.delivery
        while True:
            try:
                message = client.recv(timeout=None)
            except WsError as exc:
                acks.put(("error", exc, 0.0))
                return
            arrival, arrival_ns = client.arrival, client.arrival_ns
            if self._expect.matches(message):
                acks.put(("reply", message, arrival))
                continue
            try:
                data = json.loads(message)
                sender, seq, sent_ns = str(data["sender"]), int(data["seq"]), int(data["sent_ns"])
            except (ValueError, TypeError, KeyError):
                acks.put(("reply", message, arrival))  # neither the reply nor a broadcast: the round trip fails
                continue
            book.see(group, receiver, sender, seq)
            # sent_ns is the sender's CLOCK_REALTIME (one machine, or clocks kept in step); so is the stamp.
            self._fire(DELIVERY, (arrival_ns - sent_ns) / 1e9, len(message), None)
