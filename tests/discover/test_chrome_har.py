"""Chrome DevTools' HAR export (tests/data/har/chrome-graphql.har, made by tests/discover/chrome_har.py): its
layout, its conversion (two websocket entries, one with a binary frame), a run of the result, and a fresh
recording from a real Chromium that still matches the fixture."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from chanload.discover import cli
from tests.discover.recorder import CHROMIUM
from tests.locustrun import run_locust
from tests.servers import ROOT, foreign_app

FIXTURE = ROOT / "tests" / "data" / "har" / "chrome-graphql.har"


def websockets(path: Path) -> list[dict]:
    return [e for e in json.loads(path.read_text())["log"]["entries"] if e.get("_resourceType") == "websocket"]


def layout(path: Path) -> list[tuple]:
    """What a HAR writer decides: each websocket entry's path, keys, and its sent frames (type, opcode, data)."""
    out = []
    for entry in websockets(path):
        messages = entry["_webSocketMessages"]
        sent = [(m["type"], m["opcode"], m["data"]) for m in messages if m["type"] == "send"]
        keys = (tuple(sorted(entry)), tuple(sorted(entry["request"])), tuple(sorted(entry["response"])))
        out.append((entry["request"]["url"].split("/", 3)[3], keys, {tuple(sorted(m)) for m in messages}, sent))
    return out


def test_the_fixture_is_laid_out_as_chrome_exports_websockets():
    entries = websockets(FIXTURE)
    assert [e["request"]["url"].split("/", 3)[3] for e in entries] == ["ws/graphql/", "ws/chat/lobby/"]
    opcodes = set()
    for entry in entries:
        assert entry["request"]["url"].startswith("ws://") and entry["response"]["status"] == 101
        started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
        for message in entry["_webSocketMessages"]:
            assert set(message) == {"type", "time", "opcode", "data"} and message["type"] in ("send", "receive")
            # not timing: the fixture's own frame times (seconds, epoch), within its 30 s session
            assert isinstance(message["time"], float) and 0 <= message["time"] - started < 30
            opcodes.add(message["opcode"])
    assert opcodes == {1, 2}


def test_the_fixture_converts_choosing_by_url_and_refuses_the_binary_entry(tmp_path, capsys):
    assert cli.main([str(FIXTURE)]) == 2
    assert "2 websocket entries" in capsys.readouterr().err
    assert cli.main([str(FIXTURE), "--url", "chat"]) == 2
    err = capsys.readouterr().err
    assert "frame 1 (sent) is binary (opcode 2)" in err and "ws.send(b'...')" in err
    out = tmp_path / "run.conf"
    assert cli.main([str(FIXTURE), "--url", "graphql", "-o", str(out)]) == 0
    shown = out.read_text() + capsys.readouterr().err
    assert 'ws-subprotocol = ["graphql-transport-ws"]' in shown and "ws-path = ws/graphql/" in shown
    assert '"[connection_init] {\\"type\\": \\"connection_init\\"} => json:{\\"type\\": \\"connection_ack\\"}"' in shown
    cookie = next(h["value"] for h in websockets(FIXTURE)[0]["request"]["headers"] if h["name"] == "Cookie")
    assert cookie.partition("=")[2] not in shown  # the page's CSRF cookie: not a credential, still not written


@pytest.mark.e2e
def test_the_fixture_runs_against_the_app(tmp_path):
    out = tmp_path / "run.conf"
    assert cli.main([str(FIXTURE), "--url", "graphql", "-o", str(out)]) == 0
    with foreign_app() as app:
        run = run_locust(tmp_path, app.ws_url, "--config", str(out), users=2, run_time="3s")  # --host: this app
    assert run.code == 0 and run.failures() == [], run.output[-3000:]
    for name in ("connection_init", "subscribe", "ws/graphql/"):
        assert run.row("WS message", name)["count"] > 0


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not at /usr/bin/chromium")
def test_a_fresh_chromium_recording_matches_the_fixture(tmp_path):
    from tests.discover.chrome_har import record

    fresh = tmp_path / "chrome.har"
    with foreign_app() as app:
        version = record(app.http_url, fresh)
    assert version.split(".")[0].isdigit()
    assert layout(fresh) == layout(FIXTURE)
    for path in (fresh, FIXTURE):
        assert cli.main([str(path), "--url", "graphql", "-o", str(tmp_path / f"{path.stem}.conf")]) == 0
    strip = lambda p: [line for line in p.read_text().splitlines() if not line.startswith(("host", "#", "ws-think"))]  # noqa: E731
    assert strip(tmp_path / "chrome.conf") == strip(tmp_path / "chrome-graphql.conf")
