"""The suite's command-line options, registered on Locust's parser (`locust --help`, the web UI, config files).

They are validated by `chanload.run.settings.settings_from` before any load starts.
"""

from __future__ import annotations

import argparse
import json

from chanload.locust import drills, leakwatch
from chanload.run.settings import Settings, settings_from
from chanload.wire.defaults import DEFAULTS

__all__ = ["FORM_FIELDS", "OFF_FORM", "Settings", "StepsText", "TokensText", "add_arguments", "settings_from"]

# The options the web UI's form shows (their `dest`s, as the form posts them), filled in by add_arguments.
FORM_FIELDS: dict[str, str] = {}  # dest -> the option as the command line spells it, e.g. "--ws-open"
OFF_FORM: dict[str, str] = {}  # the same for the options the web UI's form does not show (a POST may not set them)


class StepsText(argparse._AppendAction):
    """A repeatable option kept as one text, a JSON list of the values given: `["[init] ... => ...", ...]`.

    Locust's web UI shows an option's value in a one-line text field and takes back what is typed there; a list
    would be shown joined with commas and split at every comma when the form is sent, cutting a JSON step in
    pieces. As text, the field shows the command line's or config file's steps as a JSON list, and the form's
    value comes back whole (`chanload.run.settings` reads the list, or one step). An `_AppendAction`, so that a
    config file's list gives one value per element, as for `action="append"`.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        text = getattr(namespace, self.dest, None) or ""
        given = json.loads(text) if text else []
        setattr(namespace, self.dest, json.dumps([*given, values]))


class TokensText(argparse._AppendAction):
    """A repeatable option of tokens (no commas in one), kept as one comma-separated text, as the web UI shows it."""

    def __call__(self, parser, namespace, values, option_string=None):
        text = getattr(namespace, self.dest, None) or ""
        setattr(namespace, self.dest, f"{text},{values}" if text else str(values))


def add_arguments(parser) -> None:
    """Register the options on Locust's parser (shown in `locust --help`, the web UI and config files)."""
    group = parser.add_argument_group(
        "Channels websocket",
        "What each websocket user sends and expects (chanload). Config-file keys drop the leading --.",
    )
    # Target
    _add(
        group,
        "--ws-path",
        default="",
        help="Path template under --host, with {group} for the room, e.g. 'ws/chat/{group}/'. "
        "Default: each user class's own route (room/{group}, aroom/{group}, chat/{group}).",
    )
    _add(
        group,
        "--ws-groups",
        default="",
        help="Values {group} takes, one at random per connection: LOW-HIGH (integers, e.g. 1-500), "
        "PREFIXLOW-PREFIXHIGH (names, e.g. g0-g9, room1-room50), A,B,C (names), @FILE (one name per line), or N: "
        "N rooms named g0..gN-1 (not room N: for integer rooms give LOW-HIGH, e.g. 1-1). Default: the user "
        "class's own, 10 for the built-in ones.",
    )
    _add(
        group,
        "--ws-header",
        action="append",
        default=[],
        web_ui=False,
        help="Extra handshake header 'Name: value' (repeatable), e.g. a Cookie or Authorization header.",
    )
    _add(
        group,
        "--ws-subprotocol",
        action=TokensText,
        default="",
        help="Subprotocol offered in every handshake (Sec-WebSocket-Protocol), repeatable or comma-separated, in "
        "order after a connect() call's own, e.g. graphql-transport-ws. A server that picks none of them, or "
        "another, fails the connect (subprotocol rejected). Default: the user class's, none for the built-in ones.",
    )
    # Messages
    _add(
        group,
        "--ws-payload",
        default="",
        help="Message text or JSON template; {user} {seq} {group} {username} {sent_ns} {mark} {random:LOW-HIGH} "
        "{choice:A|B|C} {uuid} are filled per message, raw ({mark}: a token receivers measure delivery from; "
        "{random:...}, {choice:...} and {uuid}: new for each message). Default: 'hello' (echo users), "
        "a marked JSON message (broadcast users).",
    )
    _add(
        group,
        "--ws-expect",
        default="",
        help="Expected reply: exact text, 're:PATTERN' (whole reply), 'json:TEMPLATE' (a JSON reply holding "
        "these fields), or 'own' (the sender's own {mark}ed message relayed back); {user} {seq} {group} "
        "{username} are those of the message answered. Default: OK.",
    )
    _add(
        group,
        "--ws-match",
        default="",
        help="Which frame is the reply, in --ws-expect's forms, e.g. 'json:{\"request_id\": {seq}}'; --ws-expect "
        "then says what that reply must hold: a frame that matches and fails it is a wrong reply at once, and "
        "frames that do not match are other frames (--ws-other). Default: the first frame --ws-expect accepts.",
    )
    _add(
        group,
        "--ws-open",
        action=StepsText,
        default="[]",  # the form shows a JSON list even when it is empty
        help="Opening step after every connect, repeatable, run in order: '[NAME] SEND => EXPECT' (a round trip, "
        "the row 'WS message NAME'), '[NAME] => EXPECT' (a wait) or '[NAME] SEND' (a send). SEND and EXPECT take "
        "--ws-payload's and --ws-expect's forms; NAME defaults to open1, open2, ... A failed step closes the "
        "connection; the next task reconnects and runs the steps again. In the web UI's form: a JSON list of "
        'steps, ["[a] ... => ...", "[b] ..."], or one step that does not start with [" (a text that does is read as '
        "the list). Default: the user class's, none built in.",
    )
    _add(
        group,
        "--ws-other",
        default="",
        choices=["", "fail", "skip"],
        help="A frame that arrives while a reply is awaited and does not match: 'fail' the message, or 'skip' "
        "it (counted as an other frame) and keep waiting up to the reply timeout. Default: the user class's, "
        "fail for the built-in ones.",
    )
    # Logins
    _add(
        group,
        "--login-url",
        default="",
        web_ui=False,
        help="Path of a login form on the target's http twin (ws -> http, wss -> https), e.g. /accounts/login/ "
        "(Django's LoginView): each user GETs it, POSTs it with the CSRF token, and connects with the session "
        "cookie it got. Needs --credentials. Timed as the row 'HTTP login'. Default: the user class's, none.",
    )
    _add(
        group,
        "--credentials",
        default="",
        web_ui=False,
        help="CSV file of username,password lines (blank and # lines, and a header line, skipped) for --login-url: "
        "user 1 of each process takes line 1, user 2 line 2, ... (again from the top when there are more users).",
    )
    _add(
        group,
        "--login-cookie",
        default=DEFAULTS.login_cookie,
        web_ui=False,
        help="The cookie a successful login sets (the app's SESSION_COOKIE_NAME). Default: sessionid.",
    )
    _add(
        group,
        "--ws-trace",
        action="store_true",
        default=False,
        web_ui=False,
        help="Print one conversation frame by frame on stderr, to debug a script: the handshake, the login, each "
        "message sent, each frame received and how it was taken (reply, other, wrong reply, delivery, own copy, "
        "opening step), timeouts and closes, with times in ms. Only the first session of each process is traced, "
        "at most 200 lines; cookies, tokens and passwords are written ***. Meant for -u 1.",
    )
    # Timeouts
    _add(
        group, "--ws-connect-timeout", type=float, default=DEFAULTS.connect_timeout, help="Handshake timeout, seconds."
    )
    _add(group, "--ws-reply-timeout", type=float, default=DEFAULTS.reply_timeout, help="Reply timeout, seconds.")
    # Limits and TLS
    _add(
        group,
        "--ws-max-message",
        default="16MiB",
        help="The largest frame, or message reassembled from fragments, taken from the server: bytes, or with a unit "
        "(KiB, MiB, GiB; KB, MB, GB). Over it the step fails ('message too big', refused as its header arrives) "
        "and the connection is closed with 1009. Default: 16MiB.",
    )
    _add(
        group,
        "--ws-ca-file",
        default="",
        web_ui=False,
        help="wss://: a PEM file of CA certificates to trust besides the system's, e.g. your private CA's.",
    )
    _add(
        group,
        "--ws-insecure",
        action="store_true",
        default=False,
        web_ui=False,
        help="wss://: do not verify the server's certificate at all (a warning at start, a note in the summary). "
        "For tests only: give --ws-ca-file instead.",
    )
    # Pacing
    _add(
        group,
        "--ws-think",
        default="0.5-1.5",
        help="Closed loop: think time between a reply and the next send, seconds: 'X' or 'LOW-HIGH' (uniform).",
    )
    _add(
        group,
        "--ws-rate",
        type=float,
        default=0.0,
        help="Open model: messages/s per connection at intended times (--ws-arrivals); latency is then "
        "also reported from the intended send time (coordinated-omission corrected). 0: closed loop.",
    )
    _add(
        group,
        "--ws-arrivals",
        default="poisson",
        choices=("fixed", "poisson"),
        web_ui=False,
        help="Open model's send times per connection: 'poisson' (the default), exponential gaps of mean 1/rate, "
        "as independent users send; 'fixed', a grid of 1/rate with a random phase. Default: poisson (its p50 "
        "agreed with an independent probe's within 10%% in 10 of 10 runs, the grid's in 7: benchmarks/README.md).",
    )
    _add(
        group,
        "--ws-messages",
        type=int,
        default=0,
        help="Messages per connection before closing and reconnecting. 0: keep the connection.",
    )
    _add(
        group,
        "--ws-reconnect",
        default="now",
        help="After a connection drops: 'now' (connect again at once; 0.2 s pause after a failed attempt), "
        "'backoff:MIN-MAX' (exponential backoff with full jitter, seconds, e.g. backoff:0.5-30; formula in "
        "docs/restarts.md), or 'off' (the user stays down, counted). Default: now.",
    )
    _add(
        group,
        "--ws-lifetime",
        default="",
        help="Churn: each connection closes itself (1000) after a random lifetime, MIN-MAX seconds (e.g. 5-15), "
        "and connects again; its handshakes are the 'WS connect' row named 'ROUTE churn'. Default: off.",
    )
    # Results
    _add(
        group,
        "--slo",
        action="append",
        default=[],
        web_ui=False,
        help="Threshold, repeatable: 'message:p99<10ms', 'connect:p95<50ms', 'fail_ratio<0.1%%', "
        "'delivery_ratio>=99.99%%', 'rps>=500'. Any FAIL exits with code 3. Grammar: docs/thresholds-ci.md.",
    )
    _add(
        group,
        "--baseline",
        default="",
        metavar="DIR",
        web_ui=False,
        help="A previous run's --report-dir, for relative limits: --slo 'message:p99<=1.1x' fails when p99 is "
        "significantly slower than the baseline's and more than 1.1 times it. Unreadable: exit 2 before any load.",
    )
    _add(
        group,
        "--slo-abort",
        action="store_true",
        default=False,
        web_ui=False,
        help="Stop the run as soon as a threshold is certain to fail (max, count or failures past its limit).",
    )
    _add(
        group,
        "--report-dir",
        default="",
        web_ui=False,
        help="Folder for the run's artifacts (summary.json ...), written at the end even when interrupted.",
    )
    _add(
        group,
        "--ws-png-charts",
        default="on",
        choices=["on", "off"],
        web_ui=False,
        help="Draw report.html's charts also as PNG files in --report-dir: 'on' or 'off' (report.html keeps its "
        "SVG charts either way; off saves about a second of CPU per run). Default: on.",
    )
    drills.add_arguments(group, _add)  # --drill, --drill-timeout: command line or config file only
    # Safety (chanload.locust.preflight checks these before any port is bound)
    _add(
        group,
        "--allow-remote-workers",
        action="store_true",
        default=False,
        web_ui=False,
        help="Let --master-bind-host listen beyond loopback. Workers are not authenticated: any process that "
        "connects receives every option, --ws-header values included. Only on a network you trust.",
    )
    _add(
        group,
        "--allow-remote-web-ui",
        action="store_true",
        default=False,
        web_ui=False,
        help="Let --web-host listen beyond loopback without --web-login: anyone who reaches it can start a "
        "load. For a container whose published port is bound to 127.0.0.1 (docker-compose.yml).",
    )
    # Watching
    watch = parser.add_argument_group(
        "Channels websocket: watching", "Live metrics for Prometheus; the target's resources (chanload)."
    )
    _add(
        watch,
        "--ws-metrics-port",
        type=int,
        default=0,
        web_ui=False,
        help="Serve Prometheus metrics on this port at /metrics (master or standalone process). 0: off.",
    )
    _add(
        watch,
        "--ws-metrics-host",
        default="127.0.0.1",
        web_ui=False,
        help="Address the metrics endpoint binds to; 0.0.0.0 exposes it beyond this machine.",
    )
    _add(
        watch,
        "--watch",
        action="append",
        default=[],
        metavar="NAME=PID",
        web_ui=False,
        help="Sample a local process and its children once a second, in step with the latency (repeatable): CPU, "
        "RSS, file descriptors against its limit, threads, established TCP connections. A PID not running: exit 2.",
    )
    leakwatch.add_arguments(watch, _add)  # --watch-cooldown
    _add(
        watch,
        "--watch-redis",
        default="",
        metavar="URL",
        web_ui=False,
        help="Sample this Redis once a second (INFO: ops/s, memory, clients, CPU) and its channels_redis layer "
        "(messages queued against the capacity, groups), with a bounded SCAN. Not answering: exit 2.",
    )
    _add(
        watch,
        "--watch-redis-prefix",
        default="asgi",
        web_ui=False,
        help="The channel layer's `prefix` (its CONFIG in CHANNEL_LAYERS). Default: asgi, channels_redis's.",
    )
    _add(
        watch,
        "--watch-redis-capacity",
        type=int,
        default=100,
        web_ui=False,
        help="The channel layer's `capacity`, what queued messages are held against. Default: 100, channels_redis's.",
    )

    _add_capacity(parser)


def _add_capacity(parser) -> None:
    group = parser.add_argument_group(
        "Capacity finder", "Used by loadtests/capacity.py: step users up until a threshold breaks (chanload)."
    )
    _add(
        group,
        "--capacity-slo",
        action="append",
        default=[],
        web_ui=False,
        help="Threshold each step must hold, --slo grammar, repeatable: 'message:p95<50ms', 'fail_ratio<1%%'.",
    )
    _add(group, "--capacity-step", type=int, default=10, help="Users added per step.")
    _add(group, "--capacity-start", type=int, default=0, help="Users in the first step. 0: one step.")
    _add(group, "--capacity-max", type=int, default=1000, help="Stop after the step that reaches this many users.")
    _add(group, "--capacity-hold", type=float, default=10.0,
         help="Seconds each step is measured (held longer if unstable).")  # fmt: skip


def _add(group, *flags: str, web_ui: bool = True, **kwargs):
    # Locust's web UI lists actions flagged include_in_web_ui; argument groups do not take the flag.
    action = group.add_argument(*flags, **kwargs)
    action.include_in_web_ui = web_ui
    (FORM_FIELDS if web_ui else OFF_FORM)[action.dest] = flags[0]
    return action
