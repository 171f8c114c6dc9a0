"""Ctrl-C and SIGTERM while a run ends: the end-of-run writing completes.

The signal that stops a run starts the end: users stop, the summary is built, the artifacts are
written. One more SIGINT or SIGTERM during that is ignored, with a line saying so. The one after
that aborts at once, but first says whether the artifacts are complete, and removes half-written
temp files. Locust's own handling is unchanged otherwise: the first Ctrl-C still raises
KeyboardInterrupt, Locust's SIGTERM handler still runs its shutdown.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator


class Guard:
    """Signals after the one that stopped the run: the first is ignored, the second aborts."""

    def __init__(self, abort_code: int, cleanup: Callable[[], None] = lambda: None) -> None:
        self.abort_code = abort_code
        self.cleanup = cleanup
        self.stopping = False
        self.extra = 0
        self.what = "the summary"
        self.written: bool | None = None  # None: not written yet; then whether the artifacts are complete
        self.signalled: str | None = None  # the signal that stopped the run (SIGINT, SIGTERM), if one did

    def install(self, sigterm: bool = False) -> None:
        """Take over SIGINT now (the first still raises KeyboardInterrupt), so a quick second is caught too.

        With `sigterm`, SIGTERM too, the same way. Locust takes SIGTERM only once its headless start has
        returned, and a headless run with a load shape (the capacity finder) runs to its end inside that
        start: until then a SIGTERM would kill it with nothing written.
        """
        import gevent

        self.signalled = None

        # Raised from a Python handler, gevent's hub would print the KeyboardInterrupt with a traceback
        # before passing it to the main greenlet (where Locust catches it); Python's own handler is C,
        # so it printed none. Keep it that way: it is the normal way to stop a run, not an error.
        hub = gevent.get_hub()
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
        _handle(signal.SIGINT, self._on_signal)
        if sigterm:
            _handle(signal.SIGTERM, self._on_signal)

    @contextlib.contextmanager
    def ending(self, what: str) -> Iterator[None]:
        """The end of the run (`what` is being written): SIGINT and SIGTERM are counted, not obeyed."""
        self.stopping = True
        self.what = what
        _handle(signal.SIGINT, self._on_signal)
        _handle(signal.SIGTERM, self._on_signal)
        yield

    def _on_signal(self, signum, _frame) -> None:
        if not self.stopping:
            self.stopping = True
            self.signalled = signal.Signals(signum).name
            _handle(signal.SIGTERM, self._on_signal)  # a SIGTERM from now on is a second signal too
            raise KeyboardInterrupt  # the first Ctrl-C: what Python's own handler does
        self.extra += 1
        name = signal.Signals(signum).name
        if self.extra == 1:
            _say(
                f"chanload: {name} ignored: still writing {self.what}, so that they are complete."
                " Send it once more to abort and leave them incomplete."
            )
            return
        self.cleanup()
        if self.written is None:
            _say(f"chanload: aborted by a third signal ({name}): {self.what} are INCOMPLETE; do not trust them.")
        else:
            state = "complete" if self.written else "INCOMPLETE"
            _say(f"chanload: aborted by a third signal ({name}): {self.what} are {state}.")
        os._exit(self.abort_code)


def _handle(signum: int, handler) -> None:
    with contextlib.suppress(ValueError):  # not the main thread (an Environment driven from a test)
        signal.signal(signum, handler)


def _say(line: str) -> None:
    # os.write, not print: this runs inside a signal handler, maybe in the middle of a print.
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())
