"""Real browser recordings for `python -m chanload har`: Chromium talking to an app through mitmdump.

- `mitmdump(har)`: mitmproxy's `mitmdump --set hardump=FILE` on a free loopback port; the HAR is written when
  it stops (SIGINT), with every websocket the browser closed before that. mitmproxy lives in a venv of its own
  (`make deps-mitmproxy`: its pins conflict with Django's, Locust's and Twisted's), found at `.tools/mitmproxy`,
  at `CHANLOAD_MITMDUMP`, or on PATH.
- `browse(url, script, proxy)`: Debian's Chromium through Playwright, headless, opens `url` (an app page, so
  the websocket's Origin is the app's) and runs `script`, a JS async function that talks to the app and closes
  its websockets; through the proxy when one is given (loopback included: `<-loopback>`).
- SCRIPTS: the pages' conversations, one per app shape.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.servers import ROOT, UNIT, free_port, stop, wait_for_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def mitmdump_path() -> str | None:
    for candidate in (os.environ.get("CHANLOAD_MITMDUMP"), str(ROOT / ".tools" / "mitmproxy" / "bin" / "mitmdump")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mitmdump")


@contextlib.contextmanager
def mitmdump(har: Path) -> Iterator[int]:
    """mitmdump as an explicit HTTP proxy on a free loopback port, writing `har` when the block ends."""
    exe = mitmdump_path()
    assert exe, "no mitmdump: run `make deps-mitmproxy` (a venv at .tools/mitmproxy) or set CHANLOAD_MITMDUMP"
    port = free_port()
    conf = Path(tempfile.mkdtemp(prefix="chanload-mitm-"))
    log = (conf / "mitmdump.log").open("w")
    proc = subprocess.Popen(
        [exe, "--listen-host", "127.0.0.1", "--listen-port", str(port), "--set", f"confdir={conf}",
         "--set", f"hardump={har}", "--set", "termlog_verbosity=warn", "--set", "flow_detail=0"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, timeout=30 * UNIT)
        yield port
        proc.send_signal(signal.SIGINT)  # mitmdump writes the HAR on its way out
        proc.wait(timeout=30 * UNIT)
    finally:
        stop(proc)
        log.close()
        output = (conf / "mitmdump.log").read_text(errors="replace")
        shutil.rmtree(conf, ignore_errors=True)
    assert har.exists(), f"mitmdump wrote no HAR: {output[-2000:]}"


def browse(url: str, script: str, proxy: int | None = None, before: Callable | None = None, cdp=None, arg=None):
    """Open `url` in Chromium, call `before(page)` (a login), run `script` with `arg` (its result returned)."""
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_ARGS)
    if proxy is not None:
        args += [f"--proxy-server=http://127.0.0.1:{proxy}", "--proxy-bypass-list=<-loopback>"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000 * UNIT)
            session = cdp(page) if cdp is not None else None
            if before is not None:
                before(page)
            page.goto(url)
            result = page.evaluate(script, arg)  # its websockets closed: each closing handshake went through the proxy
            if session is not None:  # the DevTools events of the last frames and closes come a moment later
                deadline = time.monotonic() + 10 * UNIT
                while not session.settled() and time.monotonic() < deadline:
                    page.wait_for_timeout(20)
                assert session.settled(), "Chromium did not report every websocket closed"
            return (result, browser.version, session) if cdp is not None else result
        finally:
            browser.close()


# The pages' conversations: each opens a websocket to the app it is served from, talks, and closes it.
_HELPERS = """
  const base = `ws://${location.host}/`;
  const open = (path, protocols) => new Promise((ok, bad) => {
    const ws = new WebSocket(base + path, protocols);
    ws.onopen = () => ok(ws); ws.onerror = () => bad(new Error('websocket error on ' + path));
  });
  const reply = (ws, test) => new Promise((ok, bad) => {
    const timer = setTimeout(() => bad(new Error('no reply')), 5000);
    const seen = (ev) => {
      const m = JSON.parse(ev.data);
      if (test(m)) { clearTimeout(timer); ws.removeEventListener('message', seen); ok(m); }
    };
    ws.addEventListener('message', seen);
  });
  const pause = (ms) => new Promise((ok) => setTimeout(ok, ms));
  const close = (ws) => new Promise((ok) => { ws.onclose = () => ok(); ws.close(); });
"""

# graphql-transport-ws: init, a subscription that keeps pushing, then queries answered by id (chrome_har.py too).
GRAPHQL_STEPS = """
  const ws = await open('ws/graphql/', ['graphql-transport-ws']);
  ws.send(JSON.stringify({type: 'connection_init'}));
  await reply(ws, (m) => m.type === 'connection_ack');
  ws.send(JSON.stringify({id: 'sub', type: 'subscribe', payload: {query: 'subscription { count }'}}));
  await reply(ws, (m) => m.id === 'sub' && m.type === 'next');
  for (let i = 1; i <= 5; i++) {
    ws.send(JSON.stringify({id: String(i), type: 'subscribe', payload: {query: '{ hello }'}}));
    await reply(ws, (m) => m.id === String(i) && m.type === 'next');
    await pause(40 + 10 * (i % 2));
  }
  await close(ws);
"""

SCRIPTS = {
    # A JSON request/reply with ids: DCRF's retrieve by request_id; and the price feed's quotes by id among ticks.
    "ids": "async () => {"
    + _HELPERS
    + """
  const api = await open('ws/api/items/');
  for (let i = 1; i <= 5; i++) {
    api.send(JSON.stringify({action: 'retrieve', pk: 1, request_id: i}));
    await reply(api, (m) => m.request_id === i);
    await pause(40 + 10 * (i % 2));
  }
  await close(api);
  const feed = await open('ws/prices/7/');
  feed.send(JSON.stringify({op: 'subscribe', symbol: 'ACME'}));
  await reply(feed, (m) => m.op === 'subscribed');
  for (let i = 1; i <= 5; i++) {
    feed.send(JSON.stringify({op: 'quote', id: i, symbol: 'ACME'}));
    await reply(feed, (m) => m.op === 'price' && m.id === i);
    await pause(40 + 10 * (i % 2));
  }
  await close(feed);
  return 'done';
}""",
    # graphql-transport-ws: init, a subscription that keeps pushing, then queries answered by id.
    "graphql": "async () => {" + _HELPERS + GRAPHQL_STEPS + "  return 'done';\n}",
    # The login chat: (logged in by the page's form first) join room 1, then talk; every message is relayed back.
    "lobby": "async () => {"
    + _HELPERS
    + """
  const ws = await open('ws/lobby/');
  ws.send(JSON.stringify({command: 'join', room: 1}));
  await reply(ws, (m) => m.join === '1');
  for (let i = 1; i <= 5; i++) {
    const text = 'hello number ' + i;
    ws.send(JSON.stringify({command: 'send', room: 1, message: text}));
    await reply(ws, (m) => m.message === text);
    await pause(40 + 10 * (i % 2));
  }
  await close(ws);
  return 'done';
}""",
    # A token login, as a browser does it: fetch the token from DRF's endpoint, then the lobby with ?token=.
    "token": "async ([username, password]) => {"
    + _HELPERS
    + """
  const answer = await fetch('/api-token-auth/', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                  body: JSON.stringify({username, password})});
  const {token} = await answer.json();
  const ws = await open('ws/api/lobby/?token=' + encodeURIComponent(token));
  ws.send(JSON.stringify({command: 'join', room: 2}));
  await reply(ws, (m) => m.join === '2');
  for (let i = 1; i <= 4; i++) {
    const text = 'token talk ' + i;
    ws.send(JSON.stringify({command: 'send', room: 2, message: text}));
    await reply(ws, (m) => m.message === text);
    await pause(40);
  }
  await close(ws);
  return 'done';
}""",
    # Two kinds of message taking turns (subscribe, quote, subscribe, ...): options cannot say it; --python can.
    "turns": "async () => {"
    + _HELPERS
    + """
  const feed = await open('ws/prices/7/');
  const symbols = ['ACME', 'GLOBX', 'ACME', 'GLOBX'];
  for (let i = 1; i <= symbols.length; i++) {
    feed.send(JSON.stringify({op: 'subscribe', symbol: symbols[i - 1]}));
    await reply(feed, (m) => m.op === 'subscribed');
    feed.send(JSON.stringify({op: 'quote', id: i, symbol: symbols[i - 1]}));
    await reply(feed, (m) => m.op === 'price' && m.id === i);
    await pause(40);
  }
  await close(feed);
  return 'done';
}""",
}


def login_form(page, url: str, username: str, password: str) -> None:
    """Django's LoginView form at `url`, filled in and sent, as a person would."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("[type=submit]")
