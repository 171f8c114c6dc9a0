"""`python -m chatroom.serve`: Daphne's command line plus two guards it lacks.

    python -m chatroom.serve -b 127.0.0.1 -p 8000 --max-pending 64 --header-timeout 10 chatroom.asgi:application

Every Daphne option works unchanged. With both guards at 0 (the default) this is plain Daphne, except
that a websocket failed for a protocol error gets a close frame with its RFC 6455 code (1002, 1007,
1009) where Daphne resets the TCP connection.

--max-pending N   Bounded memory per websocket. Daphne reads a socket as fast as the client writes and
                  queues every message for the consumer (an unbounded asyncio.Queue), and it buffers every
                  reply the client does not read (Twisted's write buffer: the HTTP channel that stays the
                  transport's producer after the upgrade never pauses reading). With N > 0 the server stops
                  reading a socket while N messages wait for its consumer (until half of them are handled)
                  or while more than 64 KiB of replies wait for the client; TCP then holds the client back.
--header-timeout S  Close a connection that has not sent a complete request head (HTTP request or
                  websocket upgrade) S seconds after it connected. Daphne's --websocket_connect_timeout
                  and --http-timeout only start once the head is complete, and Twisted's idle timeout
                  (60 s) restarts with every byte, so a client trickling a header is otherwise held forever.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

# daphne.server installs Twisted's asyncio reactor on import: it must come before twisted.internet.reactor.
from daphne.cli import CommandLineInterface
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

logger = logging.getLogger("chatroom.serve")

POLL_S = 0.005  # how often a socket paused for its consumer checks the queue again


@implementer(IPushProducer)
class ReadGate:
    """Stops reading one socket while any reason holds it: unread replies, or a consumer that is behind."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.held: set[str] = set()

    def hold(self, reason: str) -> None:
        """Pause reading for `reason` (a no-op if already held for it)."""
        if not self.held:
            self.transport.pauseProducing()
        self.held.add(reason)

    def release(self, reason: str) -> None:
        """Drop `reason`; resume reading once no reason is left."""
        if reason in self.held:
            self.held.discard(reason)
            if not self.held:
                self.transport.resumeProducing()

    # The transport calls these when its write buffer passes 64 KiB and when it has drained.
    def pauseProducing(self) -> None:
        """Called when the client's unread replies fill the write buffer."""
        self.hold("replies")

    def resumeProducing(self) -> None:
        """Called when the write buffer has drained."""
        self.release("replies")

    def stopProducing(self) -> None:
        """Called when the connection is gone."""
        self.held.clear()


class GuardedWebSocketProtocol(WebSocketProtocol):
    """Daphne's websocket protocol with a read gate (see --max-pending)."""

    max_pending = 0
    gate: ReadGate | None = None

    def connectionMade(self) -> None:
        """Called after the upgrade handed the socket over: take over as the transport's producer."""
        super().connectionMade()
        if self.max_pending > 0:
            self.gate = ReadGate(self.transport)
            self.transport.unregisterProducer()  # Daphne's HTTP channel, which never pauses after an upgrade
            self.transport.registerProducer(self.gate, True)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # autobahn's names
        """Called for every message: queue it as Daphne does, then pause reading if the consumer is behind."""
        super().onMessage(payload, isBinary)
        queue = getattr(self, "application_queue", None)
        if self.gate is not None and queue is not None and queue.qsize() >= self.max_pending:
            if "consumer" not in self.gate.held:
                self.gate.hold("consumer")
                reactor.callLater(POLL_S, self._wait_for_consumer)

    def _wait_for_consumer(self) -> None:
        """Resume reading once the consumer has handled half of the queued messages."""
        if self.gate is None or not self.gate.held or self.state == self.STATE_CLOSED:
            return
        if self.application_queue.qsize() <= self.max_pending // 2:
            self.gate.release("consumer")
        else:
            reactor.callLater(POLL_S, self._wait_for_consumer)

    def _closeConnection(self, abort: bool = False) -> None:  # autobahn's name
        """Unregister the gate first: a transport with a paused producer would never finish closing."""
        if self.gate is not None:
            self.gate.held.clear()
            self.gate = None
            self.transport.unregisterProducer()
        super()._closeConnection(abort)


class HeadTrackingRequest(WebRequest):
    """Daphne's request, marking its channel once a complete request head has arrived."""

    def process(self) -> Any:
        """Called when the request line and all headers are in: the deadline is met."""
        self.channel.head_received = True
        deadline = getattr(self.channel, "head_deadline", None)
        if deadline is not None and deadline.active():
            deadline.cancel()  # so a busy server does not keep every connection of the last S seconds alive
        return super().process()


class GuardedServer(Server):
    """Daphne's server with the guards; Server.run builds both factories, these setters adjust them."""

    max_pending = 0
    header_timeout = 0.0

    def run(self) -> None:
        """Log the guards in force, then run Daphne."""
        logger.info("guards: max-pending %d, header-timeout %g s (0 = off)", self.max_pending, self.header_timeout)
        super().run()

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        # Autobahn fails a connection on a protocol error (invalid UTF-8, an oversized message, an
        # unmasked frame) by resetting it; a close frame with the RFC 6455 code tells the client why.
        factory.setProtocolOptions(failByDrop=False)
        factory.protocol = type(
            "GuardedWebSocketProtocol", (GuardedWebSocketProtocol,), {"max_pending": self.max_pending}
        )
        self._ws_factory = factory

    @property
    def http_factory(self) -> Any:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        if self.header_timeout > 0:
            build = factory.buildProtocol

            def build_with_deadline(addr: Any) -> Any:
                protocol = build(addr)
                protocol.requestFactory = HeadTrackingRequest
                channel = getattr(protocol, "_channel", protocol)
                channel.head_deadline = reactor.callLater(self.header_timeout, close_without_head, protocol)
                return protocol

            factory.buildProtocol = build_with_deadline
        self._http_factory = factory


def close_without_head(protocol: Any) -> None:
    """Time out the connection unless a complete request head arrived (Twisted's own idle-timeout path)."""
    channel = getattr(protocol, "_channel", protocol)
    if getattr(channel, "head_received", False) or channel.transport is None or not channel.transport.connected:
        return
    channel.timeoutConnection()  # closes now, aborts after Twisted's abortTimeout if the peer lingers


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number >= 0; give 0 (off) or a message count such as 64"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0; give 0 (off) or e.g. 10")
    return value


class GuardedCommandLineInterface(CommandLineInterface):
    """Daphne's command line with --max-pending and --header-timeout."""

    description = "Daphne for the chatroom target, with bounded memory per websocket and a request-head timeout"

    def __init__(self) -> None:
        super().__init__()
        self.parser.add_argument(
            "--max-pending",
            type=_count,
            default=0,
            help="stop reading a websocket while N messages wait for its consumer or 64 KiB of replies wait "
            "for the client (0 = off, Daphne's unbounded default)",
        )
        self.parser.add_argument(
            "--header-timeout",
            type=_seconds,
            default=0.0,
            help="close a connection whose request head is not complete S seconds after it connected (0 = off)",
        )

    def run(self, args: list[str]) -> None:
        """Parse (a bad value exits 2 naming the option), then run Daphne with the guards."""
        parsed = self.parser.parse_args(args)
        self.server_class = type(
            "GuardedServer",
            (GuardedServer,),
            {"max_pending": parsed.max_pending, "header_timeout": parsed.header_timeout},
        )
        super().run(args)


if __name__ == "__main__":
    GuardedCommandLineInterface.entrypoint()
