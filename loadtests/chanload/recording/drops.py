"""Why a connection dropped, or an attempt to come back failed: one short stable label per cause.

    close 1000, close 1001, close 1011, close 1012 ...  the server's close frame, by its code
    close without code                                  a close frame with no code (1005)
    abnormal close 1006                                 the socket ended without a close frame (EOF)
    reset                                               the peer reset the connection (ECONNRESET, EPIPE)
    timeout                                             no reply within the reply timeout; the user gave up on it
    refused connect                                     nothing listened (or the proxy's connect was refused)
    refused handshake 502, 503 ...                      the handshake was answered with that HTTP status
    handshake timeout                                   no answer to the handshake within the connect timeout
    other: KIND                                         any other failure, by its kind (a protocol error...)

Counted in the ledger (`drops`, `attempts_failed`: `chanload.recording.counters.Ledger`), so workers' counts add.
"""

from __future__ import annotations

from chanload.exceptions import (
    ClosedByServer,
    ConnectionLost,
    ConnectionRefused,
    HandshakeRejected,
    HandshakeTimeout,
    LoginRefused,
    ReplyTimeout,
    WsError,
)

_RESETS = ("ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError", "reset")


def cause(exc: WsError) -> str:
    """The cause label of the failure that ended a connection, or failed an attempt (module docstring)."""
    if isinstance(exc, ClosedByServer):
        return f"close {exc.code}" if exc.code is not None else "close without code"
    if isinstance(exc, ConnectionLost):
        why = str(getattr(exc, "why", "") or exc)
        if any(word in why for word in _RESETS):
            return "reset"
        if "without a close frame" in why or "socket was closed" in why or "closed the socket" in why:
            return "abnormal close 1006"
        return f"other: {exc.kind}"
    if isinstance(exc, ReplyTimeout):
        return "timeout"
    if isinstance(exc, ConnectionRefused):
        return "refused connect"
    if isinstance(exc, HandshakeRejected):
        return f"refused handshake {exc.status}"
    if isinstance(exc, HandshakeTimeout):
        return "handshake timeout"
    if isinstance(exc, LoginRefused):
        return "refused connect" if exc.unreachable else f"refused login {exc.status}"
    return f"other: {exc.kind}"
