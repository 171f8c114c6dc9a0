"""A raw ASGI websocket app (no Django, no Channels) that misbehaves on purpose, served by Daphne.

It stands for "a user's own app": different routes, a different reply format, and every failure
the suite must classify. Routes (the last path segment is the room and is ignored):
  /ok/R       replies OK                     /wrong/R    replies NOPE
  /silent/R   never replies                  /close/R    closes with 4001 on the first message
  /reject/R   refuses the handshake (403)    /stall/R    replies OK, but stalls 1 s once, at message 100
  /ws/echo/R/ replies {"ok": true, "echo": <message>} (JSON, another app's protocol)
  /double/R   replies OK twice (a push nobody asked for, read ahead with the reply)
"""

from __future__ import annotations

import asyncio
import json

STALL_AT = 100
STALL_SECONDS = 1.0


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    route = scope["path"].strip("/").split("/")[0]
    if route == "ws":
        route = "json"
    await receive()  # websocket.connect
    if route == "reject" or route not in ("ok", "wrong", "silent", "close", "stall", "json", "double"):
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "websocket.accept"})
    received = 0
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        received += 1
        text = event.get("text") or (event.get("bytes") or b"").decode()
        if route == "ok":
            await send({"type": "websocket.send", "text": "OK"})
        elif route == "double":
            await send({"type": "websocket.send", "text": "OK"})
            await send({"type": "websocket.send", "text": "OK"})
        elif route == "wrong":
            await send({"type": "websocket.send", "text": "NOPE"})
        elif route == "close":
            await send({"type": "websocket.close", "code": 4001, "reason": "go away"})
            return
        elif route == "stall":
            if received == STALL_AT:
                await asyncio.sleep(STALL_SECONDS)
            await send({"type": "websocket.send", "text": "OK"})
        elif route == "json":
            await send({"type": "websocket.send", "text": json.dumps({"ok": True, "echo": text})})
        # silent: never answers
