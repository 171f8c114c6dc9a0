"""Waiting for a reply and stamping its arrival: the kernel's receive stamps, and gevent's cheap wait.

`stamp(ancdata)` says when the bytes just read reached this machine's socket; `GeventWait` waits on a gevent
socket straight on its read watcher with one reusable reply timer. Outside gevent `WsClient` waits under the
socket's own timeout.
"""

from __future__ import annotations

import platform
import socket
import struct
import sys
import time

from chanload.wire.handshake import Expired

READ_SIZE = 16384  # bytes asked of the socket per read: one read brings a whole reply, or several

# The kernel's receive timestamp (socket(7) SO_TIMESTAMPNS, CLOCK_REALTIME in ns) says when a reply
# reached this machine's socket, whatever the generator was busy with then. Python does not name the
# option; 35 is its value in asm-generic/socket.h (SCM_TIMESTAMPNS is the same number), which the
# architectures below use. Elsewhere (alpha, parisc, sparc, other systems) replies are timed when read.
_GENERIC_ABI = ("x86_64", "i386", "i686", "aarch64", "arm", "ppc64le", "ppc64", "s390x", "riscv64")
SO_TIMESTAMPNS = (
    getattr(socket, "SO_TIMESTAMPNS", 35)
    if sys.platform.startswith("linux") and platform.machine().startswith(_GENERIC_ABI)
    else getattr(socket, "SO_TIMESTAMPNS", None)
)
TIMESPEC = struct.Struct("@ll")
ANCILLARY = socket.CMSG_SPACE(TIMESPEC.size) if SO_TIMESTAMPNS is not None else 0


def stamp(ancdata: list) -> tuple[float, int]:
    """When the bytes just read arrived, as (perf_counter seconds, CLOCK_REALTIME ns): the kernel's stamp in
    `ancdata` if there is one, else now."""
    # Realtime first, then perf_counter: if this process is preempted between the two reads, the
    # stamp converts to a later perf_counter time, never an earlier one (a reply is never timed
    # faster than it was).
    now_ns = time.time_ns()
    now = time.perf_counter()
    for level, kind, blob in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(blob) >= TIMESPEC.size:
            seconds, nanos = TIMESPEC.unpack_from(blob)
            at = seconds * 1_000_000_000 + nanos
            if at <= now_ns:  # same clock; a step of it in between would make it later than now
                return now - (now_ns - at) / 1e9, at
    return now, now_ns


class GeventWait:
    """Waiting on a gevent socket the cheap way: straight on its read watcher, one reusable reply timer.

    gevent's own `socket.recv` first tries a read that fails with EAGAIN (a syscall and an exception),
    then builds a `Timeout` for each wait. Right after a send the reply is never there yet, so here
    the greenlet waits for readability first, and the reply timer is created once per connection.
    """

    def __init__(self, sock, reply_timeout: float) -> None:
        from gevent import getcurrent  # only ever reached with gevent in use

        self._getcurrent = getcurrent
        self._raw = sock._sock  # the non-blocking OS-level socket under gevent's wrapper
        self._io = sock._read_event
        self._hub = sock.hub
        # libev keeps a stopped timer's remaining time; `again` re-arms it to the full `repeat` value.
        self._reply_timer = self._hub.loop.timer(reply_timeout, reply_timeout)

    @classmethod
    def of(cls, sock, reply_timeout: float) -> GeventWait | None:
        """A waiter for `sock` if it is a gevent socket (Locust monkey-patches sockets), else None."""
        if type(sock).__module__.startswith("gevent") and hasattr(sock, "_read_event"):
            return cls(sock, reply_timeout)
        return None

    def send(self, frame: bytes) -> int:
        """Bytes of `frame` the kernel took without waiting."""
        try:
            return self._raw.send(frame)
        except BlockingIOError:
            return 0

    def read_frame(self, feed, wait: float | None, is_reply_timeout: bool) -> tuple[int, bytes]:
        """Wait for the socket and read until `feed` returns a frame; `Expired` is thrown in after `wait` s."""
        timer = None
        if wait is not None and is_reply_timeout:
            timer = self._reply_timer
            timer.again(self._getcurrent().throw, Expired, update=True)
        elif wait is not None:
            timer = self._hub.loop.timer(wait)
            timer.start(self._getcurrent().throw, Expired, update=True)
        try:
            while True:
                self._hub.wait(self._io)
                try:
                    data, ancdata, _flags, _addr = self._raw.recvmsg(READ_SIZE, ANCILLARY)
                except BlockingIOError:
                    continue  # a spurious wake-up
                frame = feed(data, ancdata)
                if frame is not None:
                    return frame
        finally:
            if timer is not None:
                timer.stop()
                if timer is not self._reply_timer:
                    timer.close()
