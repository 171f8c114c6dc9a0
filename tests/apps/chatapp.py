"""A user's own chat app, as the README's "Pointing it at your own app" example loads it.

Raw ASGI served by Daphne: `ws/chat/<room>/` accepts the handshake (whatever its Cookie) and echoes
each message back, as a Channels chat consumer that broadcasts `chat.message` to its room would to a
lone member. Any other path is refused.
"""

from __future__ import annotations


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
    await receive()  # websocket.connect
    if not scope["path"].startswith("/ws/chat/"):
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": event.get("text") or (event.get("bytes") or b"").decode()})
