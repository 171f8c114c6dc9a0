"""The reference load generator: a bare asyncio `websockets` client doing the suite's echo work.

    python -m benchmarks.bare ws://127.0.0.1:PORT --connections 50 --seconds 20 --out counts.json

Each connection goes to a random `room/g<N>` (as the suite's users do), sends `hello`, awaits the
reply, checks that it is `OK`, and repeats at once (closed loop, no think time) until the deadline.
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


async def _converse(ws: ClientConnection, deadline: float, counts: Counter, errors: list[int]) -> None:
    clock = time.time
    while clock() < deadline:
        await ws.send(PAYLOAD)
        reply = await ws.recv()
        if reply == EXPECT:
            counts[int(clock())] += 1
        else:
            errors[0] += 1


async def run(host: str, connections: int, seconds: float, groups: int) -> dict:
    sockets = await asyncio.gather(*(_open(host, groups) for _ in range(connections)))
    print("READY", flush=True)
    counts: Counter = Counter()
    errors = [0]
    deadline = time.time() + seconds
    await asyncio.gather(*(_converse(ws, deadline, counts, errors) for ws in sockets))
    await asyncio.gather(*(ws.close() for ws in sockets))
    return {"per_second": {str(k): v for k, v in sorted(counts.items())}, "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host", help="ws://127.0.0.1:PORT")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time after all connections are open")
    parser.add_argument("--groups", type=int, default=10, help="rooms to spread connections over (suite default)")
    parser.add_argument("--out", required=True, help="JSON file for the per-second round-trip counts")
    args = parser.parse_args()
    result = asyncio.run(run(args.host, args.connections, args.seconds, args.groups))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
