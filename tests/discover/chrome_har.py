"""A HAR as Chrome DevTools' "Save all as HAR (with content)" writes it, built from a real Chromium session.

No GUI runs here, so the DevTools front end that exports HAR files cannot be clicked. Its export is made from
the DevTools protocol's Network events, which Playwright's CDP session hands over from a real Chromium:
`Network.requestWillBeSent`/`responseReceived` for the page, and for each websocket
`Network.webSocketCreated`, `webSocketWillSendHandshakeRequest` (its wall time), `webSocketHandshakeResponseReceived`,
`webSocketFrameSent` and `webSocketFrameReceived`. They are laid out as DevTools' HAR writer (front_end/models/har/
HARWriter.ts and Log.ts) lays out an entry: `_resourceType: "websocket"`, `request.url` the `ws://` URL, a 101
response, and `_webSocketMessages: [{type: "send"|"receive", time, opcode, data}]` where `time` is the frame's
wall time in seconds since the epoch (a float: the monotonic timestamp moved by the handshake's wallTime), opcode
1 (text) or 2 (binary, data in base64, as the protocol gives it). The `_webSocketMessages` field is what Chrome 76
added; the rest of the entry is HAR 1.2.

    python -m tests.discover.chrome_har OUT.har   # against a foreign app it starts (tests/apps/foreign)
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.discover.recorder import _HELPERS, GRAPHQL_STEPS, browse

# The page's conversation: GraphQL over graphql-transport-ws (text frames), then one binary frame to the chat.
SCRIPT = (
    "async () => {"
    + _HELPERS
    + GRAPHQL_STEPS
    + """
  const chat = await open('ws/chat/lobby/');
  chat.send(new Uint8Array([1, 2, 3, 250]));
  await pause(200);
  if (chat.readyState === WebSocket.OPEN) chat.close();
  return 'done';
}"""
)


class _Events:
    """The Network events of one page, kept in arrival order."""

    def __init__(self, cdp) -> None:
        self.events: list[tuple[str, dict]] = []
        for name in (
            "requestWillBeSent", "responseReceived", "webSocketCreated", "webSocketWillSendHandshakeRequest",
            "webSocketHandshakeResponseReceived", "webSocketFrameSent", "webSocketFrameReceived", "webSocketClosed",
        ):  # fmt: skip
            cdp.on(f"Network.{name}", lambda params, name=name: self.events.append((name, params)))
        cdp.send("Network.enable")

    def settled(self) -> bool:
        """Every websocket created has been reported closed."""
        created = {p["requestId"] for name, p in self.events if name == "webSocketCreated"}
        closed = {p["requestId"] for name, p in self.events if name == "webSocketClosed"}
        return bool(created) and created <= closed


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(headers: dict) -> list[dict]:
    return [{"name": k, "value": v} for k, v in headers.items()]


def build(events: list[tuple[str, dict]], version: str) -> dict:
    """The HAR document DevTools writes for these events."""
    pages: dict[str, dict] = {}
    sockets: dict[str, dict] = {}
    offsets: dict[str, float] = {}  # requestId -> wall time minus monotonic time
    for name, p in events:
        rid = p.get("requestId")
        if name == "requestWillBeSent" and p.get("type") == "Document":
            pages[rid] = {"request": p["request"], "wall": p["wallTime"], "response": None}
        elif name == "responseReceived" and rid in pages:
            pages[rid]["response"] = p["response"]
        elif name == "webSocketCreated":
            sockets[rid] = {"url": p["url"], "messages": [], "request": {}, "response": {}, "wall": 0.0}
        elif name == "webSocketWillSendHandshakeRequest" and rid in sockets:
            offsets[rid] = p["wallTime"] - p["timestamp"]
            sockets[rid].update(request=p["request"], wall=p["wallTime"])
        elif name == "webSocketHandshakeResponseReceived" and rid in sockets:
            sockets[rid]["response"] = p["response"]
        elif name in ("webSocketFrameSent", "webSocketFrameReceived") and rid in sockets:
            frame = p["response"]
            sockets[rid]["messages"].append(
                {
                    "type": "send" if name == "webSocketFrameSent" else "receive",
                    "time": p["timestamp"] + offsets.get(rid, 0.0),
                    "opcode": frame["opcode"],
                    "data": frame["payloadData"],
                }
            )
    entries = []
    for page in pages.values():
        response = page["response"] or {}
        entries.append(
            {
                "_resourceType": "document",
                "startedDateTime": _iso(page["wall"]),
                "time": 0,
                "request": {
                    "method": page["request"]["method"],
                    "url": page["request"]["url"],
                    "httpVersion": "HTTP/1.1",
                    "headers": _headers(page["request"].get("headers", {})),
                    "queryString": [],
                    "cookies": [],
                    "headersSize": -1,
                    "bodySize": 0,
                },  # fmt: skip
                "response": {
                    "status": response.get("status", 0),
                    "statusText": response.get("statusText", ""),
                    "httpVersion": "HTTP/1.1",
                    "headers": _headers(response.get("headers", {})),
                    "cookies": [],
                    "content": {"size": 0, "mimeType": response.get("mimeType", "")},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": -1,
                },  # fmt: skip
                "cache": {},
                "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0},
            }
        )
    for socket in sockets.values():
        response = socket["response"]
        entries.append(
            {
                "_resourceType": "websocket",
                "startedDateTime": _iso(socket["wall"]),
                "time": 0,
                "request": {
                    "method": "GET",
                    "url": socket["url"],
                    "httpVersion": "HTTP/1.1",
                    "headers": _headers(socket["request"].get("headers", {})),
                    "queryString": [],
                    "cookies": [],
                    "headersSize": -1,
                    "bodySize": 0,
                },  # fmt: skip
                "response": {
                    "status": response.get("status", 101),
                    "statusText": response.get("statusText", ""),
                    "httpVersion": "HTTP/1.1",
                    "headers": _headers(response.get("headers", {})),
                    "cookies": [],
                    "content": {"size": 0, "mimeType": "x-unknown"},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 0,
                    "_transferSize": 0,
                    "_error": None,
                },  # fmt: skip
                "cache": {},
                "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0},
                "_webSocketMessages": socket["messages"],
            }
        )
    entries.sort(key=lambda e: e["startedDateTime"])
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": entries,
            "_chromium": version,  # the Chromium these events came from (not a field DevTools writes)
        }
    }


def record(http_url: str, out: Path) -> str:
    """Run SCRIPT in Chromium against the app at `http_url` and write its HAR to `out`; the Chromium version."""
    holder: dict = {}

    def attach(page):
        holder["events"] = _Events(page.context.new_cdp_session(page))
        return holder["events"]

    result, version, events = browse(f"{http_url}/accounts/login/", SCRIPT, cdp=attach)
    assert result == "done", result
    out.write_text(json.dumps(build(events.events, version), indent=1) + "\n")
    return version


if __name__ == "__main__":
    from tests.servers import foreign_app

    with foreign_app() as app:
        print(record(app.http_url, Path(sys.argv[1])))
