"""The reference load generator: a bare asyncio `websockets` client doing the suite's echo work.

    python -m benchmarks.bare ws://127.0.0.1:PORT --connections 50 --seconds 20 --out counts.json

Each connection goes to a random `room/g<N>` (as the suite's users do), sends `hello`, awaits the
reply under a 5 s timeout, checks that it is `OK`, times it, and repeats at once (closed loop, no
think time) until the deadline: the work the suite's user does per message.
Prints READY once every connection is open; writes round trips per wall-clock second to --out.
Nothing from chanload or Locust is imported: this is what the suite is measured against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter

from websockets.asyncio.client import ClientConnection, connect

PAYLOAD = "hello"
EXPECT = "OK"
REPLY_TIMEOUT = 5.0  # the suite's default --ws-reply-timeout


async def _open(host: str, groups: int) -> ClientConnection:
    port = host.rsplit(":", 1)[1]
    return await connect(
        f"{host}/room/g{random.randrange(groups)}",
        # The same handshake as the suite's websocket-client: an Origin the target's
        # AllowedHostsOriginValidator accepts, no compression extension, no proxy.
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        compression=None,
        proxy=None,
        ping_interval=None,  # the suite sends no pings either
        open_timeout=10,
    )


async def _converse(ws: ClientConnection, deadline: float, counts: Counter, totals: list[float]) -> None:
    # The suite's work per message: send, await the reply under a reply timeout, check it, time it.
    clock, perf = time.time, time.perf_counter
    while clock() < deadline:
        start = perf()
        await ws.send(PAYLOAD)
        async with asyncio.timeout(REPLY_TIMEOUT):
            reply = await ws.recv()
        totals[1] += perf() - start
        if reply == EXPECT:
            counts[int(clock())] += 1
        else:
            totals[0] += 1


async def run(host: str, connections: int, seconds: float, groups: int) -> dict:
    sockets = await asyncio.gather(*(_open(host, groups) for _ in range(connections)))
    print("READY", flush=True)
    counts: Counter = Counter()
    totals = [0, 0.0]  # wrong replies, sum of round-trip times
    deadline = time.time() + seconds
    await asyncio.gather(*(_converse(ws, deadline, counts, totals) for ws in sockets))
    await asyncio.gather(*(ws.close() for ws in sockets))
    return result(counts, totals)


def result(counts: Counter, totals: list[float]) -> dict:
    """What a reference client writes to --out: round trips per wall-clock second, errors, mean round trip."""
    done = sum(counts.values()) + totals[0]
    return {
        "per_second": {str(k): v for k, v in sorted(counts.items())},
        "errors": totals[0],
        "mean_us": round(totals[1] / done * 1e6, 1) if done else None,
    }


def cli(doc: str | None, go) -> None:
    """A reference client's command line: parse, `go(run(...))` to the end, write --out."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host", help="ws://127.0.0.1:PORT")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time after all connections are open")
    parser.add_argument("--groups", type=int, default=10, help="rooms to spread connections over (suite default)")
    parser.add_argument("--out", required=True, help="JSON file for the per-second round-trip counts")
    args = parser.parse_args()
    out = go(args.host, args.connections, args.seconds, args.groups)
    with open(args.out, "w") as f:
        json.dump(out, f)


def main() -> None:
    cli(__doc__, lambda *args: asyncio.run(run(*args)))


if __name__ == "__main__":
    main()
