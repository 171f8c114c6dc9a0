"""A picows load client: the fastest Python websocket client we know of, doing the suite user's echo work.

    python -m benchmarks.fastclient ws://127.0.0.1:PORT --connections 50 --seconds 20 --out counts.json

picows (Cython framing, MIT) on uvloop. Each connection goes to a random `room/g<N>`, sends `hello`,
checks that the reply is `OK`, times it (perf_counter) and sends again at once (closed loop), as
benchmarks/bare.py does with `websockets`; a reply timeout is left out (picows has no cheap
per-message one; nothing here is ever late). Prints READY once every connection is open; writes
round trips per wall-clock second to --out, in bare.py's format. Shares no code with the suite.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.bare import cli, result

PAYLOAD = b"hello"
EXPECT = b"OK"


class Client(WSListener):
    def __init__(self, counts: Counter, totals: list) -> None:
        self.counts, self.totals = counts, totals
        self.deadline = 0.0
        self.start = 0.0
        self.done: asyncio.Future | None = None

    def go(self, deadline: float) -> asyncio.Future:
        self.deadline = deadline
        self.done = asyncio.get_running_loop().create_future()
        self.start = time.perf_counter()
        self.transport.send(WSMsgType.TEXT, PAYLOAD)
        return self.done

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        now = time.perf_counter()
        self.totals[1] += now - self.start
        clock = time.time()
        if frame.get_payload_as_bytes() == EXPECT:
            self.counts[int(clock)] += 1
        else:
            self.totals[0] += 1
        if clock < self.deadline:
            self.start = time.perf_counter()
            transport.send(WSMsgType.TEXT, PAYLOAD)
        elif self.done is not None and not self.done.done():
            self.done.set_result(None)


async def run(host: str, connections: int, seconds: float, groups: int) -> dict:
    counts: Counter = Counter()
    totals = [0, 0.0]  # wrong replies, sum of round-trip times
    port = host.rsplit(":", 1)[1]
    opened = await asyncio.gather(
        *(
            ws_connect(
                lambda: Client(counts, totals),
                f"{host}/room/g{random.randrange(groups)}",
                extra_headers={"Origin": f"http://127.0.0.1:{port}"},
            )
            for _ in range(connections)
        )
    )
    print("READY", flush=True)
    deadline = time.time() + seconds
    await asyncio.gather(*(listener.go(deadline) for _transport, listener in opened))
    for transport, _listener in opened:
        transport.send_close()
        transport.disconnect()
    return result(counts, totals)


def main() -> None:
    cli(__doc__, lambda *args: uvloop.run(run(*args)))


if __name__ == "__main__":
    main()
