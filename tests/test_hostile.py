"""The generator against a broken or hostile server (issue 20): a matrix of misbehaving servers in two Locust runs.

Two runs of `locust -f tests/apps/hostile_users.py` serve every case (the streams, and the rest): each case is a
user class of its own on tests/apps/hostile.py's `bad/<case>/{group}` (the path picks the misbehaviour; its rows
stand apart), and 2 `GoodUser`s hold the reference target's `room/{group}` under Daphne, in the same process. Each
case has one defined outcome for its rows: every failure matches a pattern, or "served" (no failure at all). And
for the run:

- the generator's peak RSS (sampled every SAMPLE s) stays under its bound (rss_bound);
- the run ends by itself (a safety net far past its run time stops it, and the test fails);
- the counters reconcile (sent = ok + failed + in flight), and no traceback is printed;
- the good users are unaffected: every message OK.

These are behaviour, and hold on a loaded machine: a case's timeouts are short (2 s) only where its outcome is
a timeout, and 30 s elsewhere, so a busy machine cannot turn a slow answer into a wrong outcome; and the run
lasts until every case has shown its outcome a few times, not a fixed time a busy machine may not be enough for.
How fast the deadlines fire (a case's requests end `within` so many seconds), how soon a run ends, the good
users' p50 beside hostile ones, and the two floods (whose outcome is a race between a server writing frames and a
client parsing them) are timing claims: the `timing` tier checks them, alone on the machine, in runs of their own for
the cases that carry them (each flood and each stream alone, the timeouts together), every timeout 2 s as a user
would set it.

A case whose outcome is not what RFC 6455 asks of a client is marked xfail(strict): the assertion states the
right behaviour, the reason says what the generator does instead. The runs' measurements (peak RSS, seconds to
the end, the good users' p50) are test properties: `--junitxml FILE` has them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests import servers
from tests.locustrun import LocustRun, Output, latency_row, png_option
from tests.servers import ROOT, UNIT, free_port, stop, wait_for_port

pytestmark = pytest.mark.e2e

USERS = servers.APPS_DIR / "hostile_users.py"
GOOD = 2  # good users (GoodUser.fixed_count in hostile_users.py)
PER_CASE = 2  # users of each case's class; 1 for a heavy case (Case.heavy)
RUN_TIME = 6.0  # seconds, -t
STOP_TIMEOUT = 2.0  # seconds, --stop-timeout
REPLY_TIMEOUT = 2.0  # seconds: the reply timeout of a case whose outcome is one (and of every user, when timed)
CONNECT_TIMEOUT = 2.0  # seconds: the same for the handshake
PATIENT = 30.0  # seconds: every other timeout in the matrix run, so that only a case's own fault can fail it
# Locust's start (imports, the locustfile) before -t begins, and the artifacts written after it: ~1.5 s on a quiet
# 2-core machine; twice that, for a busy one. The timing tier's run must end within RUN_TIME + STOP_TIMEOUT + this.
STARTUP = 5.0
# The matrix run ends once every case has OUTCOMES outcomes (failures, or messages answered for a case served) and
# the good users as many answers (hostile_users.py's HOSTILE_UNTIL): a few seconds on a quiet machine, and on a busy
# one as long as its slowest case takes to show. Its -t is the safety net, ten times what a quiet machine takes; the
# test stops (and fails) it if it has not ended STARTUP + KILL_GRACE after that.
OUTCOMES = 4  # each case's, and the good users'; a heavy case (Case.users) ends the run once it has HEAVY_OUTCOMES
HEAVY_OUTCOMES = 2
MATRIX_LIMIT = 10 * (RUN_TIME + STOP_TIMEOUT + STARTUP)
MATRIX_GRACE = 60.0  # seconds past MATRIX_LIMIT: a starved process takes its time to write its results
LIFETIME = MATRIX_LIMIT + MATRIX_GRACE  # tests/apps/hostile.py cuts a connection after it: never mid-run
SAMPLE = 0.2  # seconds between RSS samples
KILL_GRACE = 3.0  # seconds past the time a timed run must end by, before the test stops it (and fails)
# The generator's peak RSS. An idle Locust with chanload is ~75 MB; fifty users reconnecting hundreds of times, their
# failure rows and per-second histograms reached 131 MiB in a clean-clone run; each user of a case that sends a
# message at the --ws-max-message limit (16 MiB) may hold it whole before it is refused, and the buffer it was read
# into (a bytearray grows by over-allocation, and a read's bytes are copied in): 2 x 16 MiB each. Before the limit,
# an endless message grew the generator to 1.3 GB: the bound catches that with room for a busy machine.
RSS_BASE = 192 * 2**20
RSS_PER_BIG_USER = 2 * 16 * 2**20
# The good users' median round trip while hostile users share the process: ~1 ms alone on loopback; a case
# that makes the generator's one event loop spin (a flood) may cost each good round trip a few reads of
# another socket. Far under the reply timeout: a starved good user would show as 100 ms and more.
GOOD_P50_US = 50_000
# A fault is one failure row: Locust groups failures by message, so a message that carries what the server chose
# (its bytes, a session id) makes a row per connection, each kept to the end of the run. A case may meet two
# faults at most (a reset is read as a reset, or as the end of the socket); a message is a sentence, not a dump.
MAX_ROWS = 2
MAX_MESSAGE = 300  # characters
LATE = 0.5  # seconds past a deadline that a timeout may be recorded (the event loop's turn, a loaded machine)
SERVED = None  # the outcome "still served": the hostile users' messages all OK, no failure
TOO_BIG = r"^message too big: over the 16777216-byte limit \(--ws-max-message\); closed with 1009$"
PROTOCOL_ERROR = r"^connection lost: protocol error: "


@dataclass(frozen=True)
class Case:
    id: str  # the server's case (the path's segment) and the test id
    expect: str | None  # a regex every hostile failure message matches (re.search), or SERVED
    env: dict = field(default_factory=dict)  # more of its class in hostile_users.py: subprotocols, other
    client_close: int | None = None  # the close code the client must send the server at least once
    within: float | None = None  # seconds within which every hostile request ends, failed or not (timing tier)
    xfail: str = ""  # why the generator does not do the right thing yet (the test is xfail strict)

    @property
    def big(self) -> bool:
        """Whether a user of this case may hold a message at the size limit (memory: rss_bound)."""
        return self.expect == TOO_BIG

    @property
    def users(self) -> int:
        """PER_CASE, or 1 for a heavy case: one that keeps a user's core busy all its turn (a 16 MiB message read, an
        endless answer read a byte per recv()), and would starve the rest of the process at two."""
        return 1 if self.big or self.expect == ENDLESS_ANSWER else PER_CASE

    def spec(self, timed: bool) -> dict:
        """This case's class in hostile_users.py (HOSTILE_CASES). Untimed, its timeouts are PATIENT but for the
        one its outcome is; timed, the command line's (2 s each)."""
        spec: dict = {"id": self.id, "users": self.users, **self.env}
        if self.users == 1:
            spec["outcomes"] = HEAVY_OUTCOMES
        if self.big and not timed:  # the time to read 16 MiB is the machine's: only the safety net bounds it
            spec["reply_timeout"] = MATRIX_LIMIT
        if self.expect is not None and not timed:
            if re.search("reply timeout", self.expect):
                spec["reply_timeout"] = REPLY_TIMEOUT
            if re.search("handshake timeout", self.expect):
                spec["connect_timeout"] = CONNECT_TIMEOUT
        return spec


REPLY_TIMEOUT_FAILURE = r"^reply timeout: no reply within 2s$"
HANDSHAKE_TIMEOUT_FAILURE = r"^handshake timeout: no answer within 2s$"
# The 64 KiB cap (HANDSHAKE_ANSWER), or, on a machine too loaded to read 64 KiB a byte per recv() in 2 s, the
# handshake deadline: either way the answer is bounded in size and time.
ENDLESS_ANSWER = (
    r"^(connection lost during handshake: an answer longer than 65536 bytes|handshake timeout: no answer within 2s)$"
)
AT_ONCE = 1.0  # seconds: what is refused at a header, or at a cap reached at loopback speed, is refused within it

CASES = [
    Case("ok", SERVED),  # the control: a good server on the hostile class's side
    # Section 10.4: an implementation must limit frame and message sizes. A text message in 64 KiB fragments
    # that never ends: refused when the fragments pass 16 MiB, closed with 1009 (section 7.4.1, "too big").
    Case("fragbomb", TOO_BIG, client_close=1009, within=AT_ONCE),
    Case("bigtext", TOO_BIG, client_close=1009, within=AT_ONCE),  # a valid 64 MiB text message per message
    Case("hugeframe", TOO_BIG, client_close=1009, within=AT_ONCE),  # 2^62 bytes announced, 1 MiB/s of them
    # Pings as fast as the socket takes them, OK to each message behind them. Section 5.5.2: each ping owes a pong
    # (5.5.3: the latest of several will do). Two-byte pings come far faster than a Python client parses frames,
    # so the OK never comes within the reply timeout: the deadline must fire on time all the same.
    Case("pingflood", REPLY_TIMEOUT_FAILURE, within=REPLY_TIMEOUT + LATE),
    # 64-byte text frames as fast as the socket takes them, skipped (--ws-other skip): each OK still arrives.
    Case("pushflood", SERVED, env={"other": "skip"}, within=REPLY_TIMEOUT),
    # Section 8.1: a text frame that is not UTF-8 fails the connection (close 1007).
    Case(
        "badutf8",
        r"^connection lost: protocol error: .*UTF-8",
    ),
    Case("rsv1", PROTOCOL_ERROR + "reserved bits"),  # section 5.2: RSV1 with no extension negotiated fails it
    Case("nohandshake", HANDSHAKE_TIMEOUT_FAILURE, within=CONNECT_TIMEOUT + LATE),
    Case("slowhandshake", HANDSHAKE_TIMEOUT_FAILURE, within=CONNECT_TIMEOUT + LATE),  # the 101 after 8 s
    Case("trickle101", HANDSHAKE_TIMEOUT_FAILURE, within=CONNECT_TIMEOUT + LATE),  # a good 101, a byte per 0.2 s
    Case("http200", r"^handshake rejected: HTTP 200 OK$"),  # section 4.1: anything but 101 fails the handshake
    # Section 4.1: a status line that is not one fails the handshake; 8 KiB of it, different each time.
    Case(
        "junkstatus",
        r"^connection lost during handshake: Invalid status line",
    ),
    Case(
        "longreason",
        r"^handshake rejected: HTTP 403\b",
    ),
    # Section 5.5.1: a close payload is empty or starts with a 2-byte code; 1 byte is a protocol error (1002).
    Case(
        "close1byte",
        PROTOCOL_ERROR,
    ),
    # Section 7.4.1: 1005 (like 1006 and 1015) must not be sent in a close frame; 7.4.2: 0-999 are not used, and
    # nothing is defined above 4999: a client fails the connection (1002) at such a code.
    Case(
        "close1005",
        PROTOCOL_ERROR,
    ),
    Case(
        "close5000",
        PROTOCOL_ERROR,
    ),
    # Section 5.5.1: an endpoint that receives a close frame MUST send one in response; nothing after it is read.
    Case(
        "closethendata",
        r"^closed by server: code 1000 'bye'$",
        client_close=1000,
    ),
    # A close reason that names the connection: one fault, so one failure row (the reason differs every time).
    Case(
        "closereason",
        r"^closed by server: code 4000\b",
    ),
    Case("contnostart", PROTOCOL_ERROR + "continuation frame with no message"),  # section 5.4
    Case("textinfrag", PROTOCOL_ERROR + "new message before the previous one's last fragment"),  # section 5.4
    Case("masked", PROTOCOL_ERROR + r"masked frame"),  # section 5.1: a masked server frame fails the connection
    Case("bigping", PROTOCOL_ERROR + "control frame"),  # section 5.5: control payloads are 125 bytes at most
    Case("fragping", PROTOCOL_ERROR + "control frame"),  # section 5.5: control frames are never fragmented
    Case("opcode3", PROTOCOL_ERROR + "unknown opcode 0x3$"),  # section 5.2: 0x3-0x7 are reserved
    # An answer without end, as fast as the socket takes it: the handshake deadline covers the whole answer, and
    # what is read of it is bounded. A status line without end, then header lines without end (a new name each).
    # Read a byte per recv() as websocket-client reads an answer, 64 KiB take ~0.3 s, over 1 s on a loaded machine.
    Case("endlessstatus", ENDLESS_ANSWER, within=CONNECT_TIMEOUT + LATE),
    Case("endlessheaders", ENDLESS_ANSWER, within=CONNECT_TIMEOUT + LATE),
    # Section 4.1: an extension in the answer that the client did not offer fails the connection.
    Case(
        "badextension",
        r"^(connection lost during handshake|handshake rejected): .*(?i:extension)",
    ),
    # A frame before the 101: the answer's first line is not a status line (section 4.1: fail the handshake).
    Case("early", r"^connection lost during handshake: Invalid (header|status) line"),
    Case("eager", SERVED),  # the 101 and a ping in one write: legal; the ping answered, then served
    Case("badaccept", r"^connection lost during handshake: Invalid WebSocket Header$"),  # section 4.1: fail it
    # Section 4.1: a subprotocol that was not offered fails the connection (offered by the class: the good
    # users, on the same command line, offer none).
    Case(
        "badsubproto",
        r"^subprotocol rejected: offered 'chat'; the server picked 'other'$",
        env={"subprotocols": ["chat"]},
    ),
    # A frame's header and 10 of its 1000 bytes, then a TCP reset.
    Case("reset", r"^connection lost: (ConnectionResetError|socket closed without a close frame)$"),
    Case("silent", REPLY_TIMEOUT_FAILURE, within=REPLY_TIMEOUT + LATE),  # accepts, then nothing
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    """tests/apps/hostile.py on a free loopback port for the module; its log must hold no traceback."""
    port = free_port()
    log = tmp_path_factory.mktemp("hostile") / "hostile.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.apps.hostile", "--port", str(port), "--lifetime", f"{LIFETIME:g}"],
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
    try:
        wait_for_port(port, proc, 20 * UNIT)
        yield servers.Server(proc, port, log)
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def server_stats(server: servers.Server) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"{server.http_url}/stats", timeout=5 * UNIT) as resp:
        return json.load(resp)


@dataclass
class Run(LocustRun):
    elapsed: float = 0.0
    peak_rss: int = 0
    ended: bool = True  # by itself, before the test stopped it


def run_cases(tmp_path: Path, cases: list[Case], hostile_url: str, target_url: str, timed: bool) -> Run:
    """One headless run of hostile_users.py with a class per case; the locust process's RSS sampled every SAMPLE s.

    Timed, every timeout is 2 s and the run lasts RUN_TIME; untimed, every timeout is PATIENT but a case's own
    (`Case.spec`), and the run lasts until every case has shown OUTCOMES outcomes (MATRIX_LIMIT at most). A timed
    run is stopped, and fails, KILL_GRACE past the time it must end by; an untimed one MATRIX_GRACE past its -t.
    """
    report_dir, csv_prefix = tmp_path / "report", tmp_path / "stats"
    users = GOOD + sum(c.users for c in cases)
    timeout = 0.0 if timed else PATIENT
    cmd = [
        sys.executable, "-m", "locust", "-f", str(USERS), "--headless", "--host", target_url,
        "-u", str(users), "-r", str(users), "-t", f"{RUN_TIME if timed else MATRIX_LIMIT:g}s",
        "--stop-timeout", f"{STOP_TIMEOUT:g}", "--only-summary", "--report-dir", str(report_dir),
        "--csv", str(csv_prefix), "--json-file", str(csv_prefix), *png_option(),  # locust appends .json
        "--ws-reply-timeout", f"{timeout or REPLY_TIMEOUT:g}",
        "--ws-connect-timeout", f"{timeout or CONNECT_TIMEOUT:g}",
        "--ws-think", "0.2",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # Locust puts the locustfile's folder first on sys.path: import this checkout's chanload and tests.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "loadtests"), str(ROOT)]),
        "HOSTILE_HOST": hostile_url,
        "HOSTILE_CASES": json.dumps([c.spec(timed) for c in cases]),
        **({} if timed else {"HOSTILE_UNTIL": json.dumps({"outcomes": OUTCOMES})}),
    }
    limit = ((RUN_TIME + STOP_TIMEOUT + STARTUP + KILL_GRACE) if timed else (MATRIX_LIMIT + MATRIX_GRACE)) * UNIT
    began = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = Output(proc)
    peak = 0
    try:
        watched = psutil.Process(proc.pid)
        while proc.poll() is None and time.monotonic() - began < limit:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass  # it just ended
            time.sleep(SAMPLE)
        elapsed = time.monotonic() - began
        ended = proc.poll() is not None
    finally:
        if proc.poll() is None:
            stop(proc, timeout=2)  # SIGTERM, then SIGKILL: a generator frozen in a loop never handles the first
    return Run(proc.wait(), output.text(), report_dir, csv_prefix, elapsed=elapsed, peak_rss=peak, ended=ended)


def rss_bound(cases: list[Case]) -> int:
    return RSS_BASE + RSS_PER_BIG_USER * sum(c.big for c in cases)


def _params(cases: list[Case]) -> list:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in cases
    ]


def check_run(run: Run, cases: list[Case], record_property) -> None:
    """What holds for a whole run: it stayed up and small, ended by itself, said nothing it should not, its
    counters reconcile, and the good users in the same process were served, every message."""
    record_property("peak_rss_mib", round(run.peak_rss / 2**20, 1))  # in --junitxml: the run's measurements
    record_property("elapsed_s", round(run.elapsed, 1))
    tail = run.output[-4000:]
    assert run.ended, f"still running after {run.elapsed:.0f}s: stopped\n{tail}"
    assert run.peak_rss < rss_bound(cases), f"peak RSS {run.peak_rss / 2**20:.0f} MiB\n{tail}"
    assert "Traceback" not in run.output, tail
    counters = run.summary["counters"]
    assert counters["reconciles"], counters
    assert counters["sent"] == counters["ok"] + counters["failed"] + counters["in_flight"], counters
    good = latency_row(run.summary, "WS message", "room/[group]")
    record_property("good_p50_us", good["p50"])
    assert good["failures"] == 0 and good["count"] >= 1, good
    assert latency_row(run.summary, "WS connect", "room/[group]")["failures"] == 0
    failures = run.failures()
    assert [f for f in failures if f["Name"] == "room/[group]"] == [], failures
    names = {f"bad/{c.id}/[group]" for c in cases}
    assert [f for f in failures if f["Name"] not in names | {"room/[group]"}] == [], failures
    # Locust's own exit code: 1 for failures, and nothing worse (5: down)
    assert run.code == (0 if all(c.expect is SERVED for c in cases) else 1), tail


def check_case(run: Run, case: Case, server: servers.Server) -> None:
    """The case's rows meet its outcome, and nothing else: a sentence per fault, at most MAX_ROWS of them."""
    tail = run.output[-4000:]
    name = f"bad/{case.id}/[group]"
    hostile_failures = [f for f in run.failures() if f["Name"] == name]
    if case.expect is SERVED:
        assert hostile_failures == [], hostile_failures
        assert latency_row(run.summary, "WS message", name)["count"] > 0
    else:
        assert hostile_failures, f"no failure for {name}\n{tail}"
        wrong = [
            (f["Method"], f["Error"][:MAX_MESSAGE]) for f in hostile_failures if not re.search(case.expect, f["Error"])
        ]
        assert wrong == [], f"failures other than /{case.expect}/: {wrong}"
    errors = sorted({f["Error"] for f in hostile_failures}, key=len)
    assert len(errors) <= MAX_ROWS, f"{len(errors)} failure rows for one fault: {[e[:100] for e in errors[:5]]}"
    assert all(len(e) <= MAX_MESSAGE for e in errors), f"a failure message of {len(errors[-1])} characters"
    if case.client_close is not None:
        closes = server_stats(server).get(case.id, {})
        assert closes.get(f"close {case.client_close}", 0) > 0, closes


# The matrix: every case but the floods, in the module's runs (made once, on one xdist worker). A
# flood's outcome is a race between the server writing frames and the client parsing them, so a starved generator
# loses it whatever its timeout (a reply behind megabytes of queued frames), and it starves every other case of the
# process: the floods are checked in the timing tier only (TIMED), outcome and deadline, alone on the machine.
FLOODS = {"pingflood", "pushflood"}
MATRIX = [c for c in CASES if c.id not in FLOODS]
# In two runs: a case that needs many reads for one outcome (a 16 MiB message in 64 KiB frames, an endless answer
# read a byte per recv()) gets one read per turn of the process's event loop, and sixty users churning beside it
# made a turn so long that one outcome took a minute. So the streams have a process of their own.
RUNS = {
    "streams": [c for c in MATRIX if c.users == 1],
    "rest": [c for c in MATRIX if c.users != 1],
}
matrix = pytest.mark.xdist_group("hostile-matrix")


@pytest.fixture(scope="module")
def matrix_runs(
    hostile: servers.Server, target: servers.Server, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    return {
        name: run_cases(tmp_path_factory.mktemp(name), cases, hostile.ws_url, target.ws_url, timed=False)
        for name, cases in RUNS.items()
    }


@matrix
@pytest.mark.parametrize("name", list(RUNS))
def test_hostile_run_stays_whole(name: str, matrix_runs: dict[str, Run], record_property) -> None:
    check_run(matrix_runs[name], RUNS[name], record_property)


@matrix
@pytest.mark.parametrize("case", _params(MATRIX))
def test_hostile_server(case: Case, matrix_runs: dict[str, Run], hostile: servers.Server) -> None:
    (name,) = [name for name, cases in RUNS.items() if case in cases]
    check_case(matrix_runs[name], case, hostile)


# The timing tier: the cases with a deadline (the floods among them), every timeout 2 s, alone on the machine, each
# flood and each stream in a run of its own (it takes its process's core, and a case beside it gets a read a turn),
# the timeouts together. Each deadline is then the generator's, not its neighbours'.
TIMED = [c for c in CASES if c.within is not None]
assert FLOODS <= {c.id for c in TIMED}
# Each flood and each stream alone: one read per event-loop turn, beside another heavy case, made fragbomb's 256 frames
# and bigtext's 16 MiB miss their 1 s (3 runs of 3 in make test-repeat, then 1 of 2 with the streams together).
ALONE = FLOODS | {c.id for c in TIMED if c.users == 1}
TIMED_RUNS = {
    **{case: [c for c in TIMED if c.id == case] for case in sorted(ALONE)},
    "timeouts": [c for c in TIMED if c.id not in ALONE],
}


@pytest.fixture(scope="module")
def timed_runs(
    hostile: servers.Server, target: servers.Server, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Run]:
    return {
        name: run_cases(tmp_path_factory.mktemp(f"timed-{name}"), cases, hostile.ws_url, target.ws_url, timed=True)
        for name, cases in TIMED_RUNS.items()
    }


@pytest.mark.timing
@pytest.mark.parametrize("name", list(TIMED_RUNS))
def test_hostile_run_ends_in_time(name: str, timed_runs: dict[str, Run], record_property) -> None:
    run = timed_runs[name]
    check_run(run, TIMED_RUNS[name], record_property)
    limit = (RUN_TIME + STOP_TIMEOUT + STARTUP) * UNIT
    assert run.elapsed <= limit, f"ran {run.elapsed:.1f}s, over {limit:g}s\n{run.output[-4000:]}"
    good = latency_row(run.summary, "WS message", "room/[group]")
    assert good["p50"] < GOOD_P50_US, good


@pytest.mark.timing
@pytest.mark.parametrize("case", _params(TIMED))
def test_hostile_deadline(case: Case, timed_runs: dict[str, Run], hostile: servers.Server) -> None:
    (run,) = [timed_runs[name] for name, cases in TIMED_RUNS.items() if case in cases]
    check_case(run, case, hostile)
    assert case.within is not None
    name = f"bad/{case.id}/[group]"
    slowest = max(e["max_response_time"] for (_, n), e in run.stats().items() if n == name)
    assert slowest <= case.within * 1000 * UNIT, f"a hostile request took {slowest:.0f} ms"
