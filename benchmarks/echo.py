"""A websocket server fast enough not to be the bottleneck: answers every text message with `OK`.

    python -m benchmarks.echo PORT

The ceiling benchmark's target (benchmarks/ceiling.py). picows (MIT; Cython framing) on uvloop
(MIT/Apache-2.0): one process, one core, several times the message rate any of the measured
clients reaches, so the clients' own cost sets the ceiling. It accepts any path and Origin, and
answers as our Channels target does: `OK` for every text message, the close handshake for a close.
Prints READY once it listens.
"""

from __future__ import annotations

import sys

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

REPLY = b"OK"


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, REPLY)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def serve(port: int) -> None:
    def factory(_request: WSUpgradeRequest) -> Echo:
        return Echo()

    server = await ws_create_server(factory, "127.0.0.1", port)
    print("READY", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
