"""A broadcaster fast enough not to be the bottleneck: every text message goes to every member of its path.

    python -m benchmarks.fanout_server PORT

The fan-out benchmark's other target (benchmarks/fanout.py): what the generator reaches when the
Channels deployment gives out first. picows (MIT; Cython framing) on uvloop (MIT/Apache-2.0), one
process: a room is the request path (`/achat/g0`), its members every open connection on that path.
Each text message is answered as the Channels broadcast consumers answer it: `OK` to the sender,
then the message to every member, the sender included, in the order they joined (as a Channels group
is kept: by join time), so a member's place in each fan-out is its place in the joining. The message
is relayed unchanged, without the Channels consumer's added `"group"` key: the suite's receivers and
the benchmark's probe read only the mark it carries (`cl1.<sender>.<seq>.<sent_ns>`), and one frame
built for all members is what makes this broadcaster fast. A close is answered with the close
handshake. Prints READY once it listens.
"""

from __future__ import annotations

import sys

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

REPLY = b"OK"


class Member(WSListener):
    def __init__(self, room: dict[WSTransport, None]) -> None:
        self.room = room
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.room[transport] = None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.room.pop(transport, None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, REPLY)
            message = frame.get_payload_as_bytes()
            for member in tuple(self.room):
                member.send(WSMsgType.TEXT, message)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def serve(port: int) -> None:
    rooms: dict[str, dict[WSTransport, None]] = {}  # path -> its members, in the order they joined

    def factory(request: WSUpgradeRequest) -> Member:
        path = request.path.decode(errors="replace") if isinstance(request.path, bytes) else str(request.path)
        return Member(rooms.setdefault(path.split("?", 1)[0], {}))

    server = await ws_create_server(factory, "127.0.0.1", port)
    print("READY", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
