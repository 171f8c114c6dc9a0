"""`python -m chanload har FILE.har [-o run.conf] [--url TEXT] [--python loadfile.py]`.

Reads the recording's websocket entries (`chanload.discover.har`), infers the conversation of the one chosen
(`chanload.discover.infer`) and writes a Locust config file, or with `--python` a WsUser locustfile
(`chanload.discover.emit`). What it inferred, and what it could not, goes to stderr; no cookie, token or
password of the recording is written or shown. Exit code 2 when the file cannot be turned into a load.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from chanload.discover import emit
from chanload.discover.har import Har, HarError, Socket, read
from chanload.discover.infer import Plan, infer
from chanload.exceptions import OptionError

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chanload har",
        description="Turn a browser recording (HAR with websocket frames: Chrome DevTools' 'Save all as HAR',"
        " mitmproxy's hardump) into a Locust config file of --ws-* options, or a WsUser locustfile.",
    )
    parser.add_argument("har", metavar="FILE.har", help="the recording")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the config file here (default: stdout)")
    parser.add_argument("--url", help="the websocket entry to use when there are several: its URL, or part of it")
    parser.add_argument(
        "--python", metavar="FILE", help="write a WsUser locustfile instead: for conversations options cannot say"
    )
    args = parser.parse_args(argv)
    har: Har | None = None
    try:
        har = read(args.har)
        socket = choose(har, args.url)
        plan = infer(socket)
        again = sum(s.url == socket.url for s in har.sockets)
        if again > 1:
            plan.notes.append(f"{again} entries for this URL (reconnects): the longest conversation is the one used")
        text = emit.python(plan, har, args.har) if args.python else emit.config(plan, har, args.har)
    except (HarError, OptionError) as exc:
        message = str(exc) if har is None else har.mask(str(exc))
        sys.stderr.write(f"python -m chanload har: {message}\n")
        return EXIT_BAD_INPUT
    target = args.python or args.output
    if target:
        Path(target).write_text(text)
    else:
        sys.stdout.write(text)
    sys.stderr.write(har.mask(describe(plan, target)))
    return EXIT_OK


def choose(har: Har, url: str | None) -> Socket:
    """The websocket entry to convert: the only one, or the one `url` names; HarError listing them otherwise."""
    listed = "; ".join(f"{s.shown} ({len(s.frames)} frames)" for s in har.sockets)
    if not har.sockets:
        raise HarError(
            f"{har.path}: no websocket entry among its {har.entries} entries. Record with the page's websocket open"
            " and talking: DevTools' Network panel, 'Save all as HAR (with content)' (Chrome 76 or later), or"
            " mitmdump --set hardump=FILE.har"
        )
    sockets = har.sockets
    if url:
        sockets = [s for s in sockets if s.url == url] or [s for s in sockets if url in s.url]
        if not sockets:
            raise HarError(f"{har.path}: no websocket entry's URL holds {url!r}; its entries: {listed}")
    if len({s.url for s in sockets}) > 1:
        urls = "; ".join(dict.fromkeys(s.shown for s in sockets))
        raise HarError(f"{har.path}: {len(sockets)} websocket entries ({urls}): choose one with --url")
    return max(sockets, key=lambda s: len(s.frames))  # the same URL twice (a reconnect): the longer conversation


def describe(plan: Plan, target: str | None) -> str:
    socket = plan.socket
    sent = sum(f.sent for f in socket.frames)
    lines = [
        f"{socket.shown}: {sent} frames sent, {len(socket.frames) - sent} received",
        f"  path {plan.path}" + (f", {{group}} from {plan.groups}" if plan.groups else ""),
    ]
    if plan.subprotocols:
        lines.append(f"  subprotocol {', '.join(plan.subprotocols)}")
    steps = plan.opening if plan.steady is not None else plan.opening_py
    for step in steps:
        lines.append(f"  opening step {step.name}" + ("" if step.expect else " (no reply awaited)"))
    if plan.steady is not None:
        lines.append(f"  repeated message {plan.steady.send}")
        lines.append(f"  reply {plan.steady.match or plan.steady.expect}" + (", others skipped" if plan.other else ""))
    else:
        lines += [f"  message {step.name}" for step in plan.steps]
    if plan.think:
        lines.append(f"  think time {plan.think} s")
    if socket.login and socket.login.field is not None:
        lines.append(f"  token login at {socket.login.path}: options cannot take it; --python writes a user that can")
    elif socket.login:
        lines.append(f"  login at {socket.login.path} (fill in {emit.CREDENTIALS})")
    if socket.login is None and [n for n in socket.cookie_names if "csrf" not in n.lower()]:
        lines.append(
            "  note: the upgrade carried cookies no login in the recording set: see the ws-header line to fill in"
        )
    if socket.header("Authorization"):
        lines.append("  note: the upgrade carried an Authorization header: see the ws-header line to fill in")
    if socket.query:
        lines.append(
            f"  note: the URL's query string ({', '.join(n for n, _ in socket.query)}) is left out of the path"
        )
    lines += [f"  note: {note}" for note in plan.notes]
    lines.append(f"wrote {target}" if target else "")
    return "\n".join(lines) + "\n"
