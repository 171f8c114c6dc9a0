"""The pytest plugin (chanload.pytest_plugin), run as a user runs it: pytest on a folder of test files, in a subprocess.

Against the reference target (`room/{group}` answers OK; `chat/{group}` answers OK and relays to the room) under
Daphne and uvicorn, and the foreign app (tests/apps/foreign: Django's LoginView, a lobby behind
AuthMiddlewareStack, models) on pytest-django's test database (the plugin's machinery: a user made in the test
seen by the server, flushed after it, a non-transactional test refused; the foreign app's own behaviour is
tests/behaviour/'s). Checked: a single conversation, a 20-member
broadcast where each member gets every message in per-sender order, a failing step's note (the step, the
expectation, what arrived, the last frames), the server's log in a failing test's report, the test database
served (an in-memory one made a temporary file, or refused when that hook is overridden), no server process or
port left behind, and neither gevent nor Locust in the test process after `ws` and `ws_factory.run`.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import psutil
import pytest

from tests.servers import APPS_DIR, TARGET_DIR, UNIT

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 180 * UNIT

CHAT_TESTS = """
import json, os

def test_one_conversation(ws, channels_live_server):
    ws.connect("room/lobby")
    assert ws.request("hi") == "OK"
    assert ws.request({"n": 1}, "OK", step="second") == "OK"
    assert channels_live_server.url.startswith("ws://127.0.0.1:")
    assert channels_live_server.http_url == "http" + channels_live_server.url[2:]
    with open(os.environ["CHANLOAD_PLUGIN_OUT"], "w") as out:
        json.dump({"pid": channels_live_server.pid, "port": channels_live_server.port}, out)

def test_twenty_members_each_get_every_message_in_order(ws_factory):
    def talk(ws, member):
        ws.connect("chat/big")
        member.together()
        for _ in range(3):
            ws.request({"text": "{mark}"}, "OK", step="say")
        return member.index

    # 20 sync consumers share one thread in the server: on a loaded machine relaying 1,140 copies can take
    # longer than the default settle (the reply timeout); settle ends as soon as nothing is owed.
    crowd = ws_factory.run(20, talk, settle=60)
    crowd.check()
    assert crowd.values == list(range(20)) and list(crowd.delivery) == ["chat/big"]
    assert crowd.complete and crowd.total["delivered"] == 20 * 19 * 3, crowd.total
    assert crowd.total["missing"] == crowd.total["duplicated"] == crowd.total["reordered"] == 0
    for member in crowd:
        assert len(member.heard) == 19 and all(seqs == [0, 1, 2] for seqs in member.heard.values())

def test_sessions_from_threads(ws_factory):
    import threading
    got = []
    def one(i):
        s = ws_factory()
        s.connect(f"room/r{i}")
        got.append(s.request("x"))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == ["OK"] * 5 and len(ws_factory.sessions) == 5

def test_a_member_that_fails_is_named(ws_factory):
    import pytest
    from chanload import WsError

    def talk(ws, member):
        ws.connect("room/crowd")
        member.together()
        ws.request("x", "OK" if member.index != 2 else "NOT OK", step="ask")

    with pytest.raises(WsError) as info:
        ws_factory.run(4, talk)
    notes = " | ".join(info.value.__notes__)
    assert "in member 2 of 4 (ws_factory.run)" in notes and "chanload step 'ask' (request)" in notes

def test_no_gevent_and_no_locust_came_in(ws, ws_factory):
    import socket
    import sys

    ws.connect("chat/quiet")
    assert ws.listen and ws._reader is not None  # a reader (a thread) reads as frames arrive
    ws.request({"text": "{mark}"}, "OK", step="say")

    def talk(s, member):
        s.connect("chat/small")
        member.together()
        s.request({"text": "{mark}"}, "OK", step="say")

    ws_factory.run(3, talk).check()
    assert "gevent" not in sys.modules and "locust" not in sys.modules, "gevent or Locust came into pytest"
    assert socket.socket.__module__ == "socket", socket.socket  # not monkey-patched
    import threading
    assert threading.Thread.__module__ == "threading"

def test_wrong_reply(ws):
    ws.connect("room/lobby")
    ws.request("hello there", "NOPE", step="greet")

def test_nothing_arrives(ws):
    ws.connect("room/lobby")
    ws.request("hi")
    ws.expect({"type": "never"}, timeout=0.3, step="wait")
"""


def _run(pytester: pytest.Pytester, *args: str, out: Path | None = None) -> pytest.RunResult:
    if out is not None:
        os.environ["CHANLOAD_PLUGIN_OUT"] = str(out)
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args, timeout=RUN_TIMEOUT)
    finally:
        os.environ.pop("CHANLOAD_PLUGIN_OUT", None)


def _left_behind(out: Path) -> None:
    """The server the inner run started is gone, and its port refuses connections."""
    started = json.loads(out.read_text())
    pid, port = started["pid"], started["port"]
    if psutil.pid_exists(pid):
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"server {pid} still running"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepts"
    mine = psutil.Process().children(recursive=True)
    assert not [p for p in mine if "chanload.pytest.launcher" in " ".join(p.cmdline())], mine


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_chat_target(pytester: pytest.Pytester, tmp_path: Path, server: str) -> None:
    pytester.makeini(f"[pytest]\nchanload_asgi = chatroom.asgi.application\npythonpath = {TARGET_DIR}\n")
    pytester.makepyfile(test_chat=CHAT_TESTS)
    out = tmp_path / "server.json"
    traced = ("--chanload-trace",) if server == "uvicorn" else ()
    result = _run(pytester, "--chanload-server", server, *traced, out=out)
    result.assert_outcomes(passed=5, failed=2)
    text = result.stdout.str()
    # --chanload-trace: a failing test's captured stderr holds its session's trace, as --ws-trace prints it.
    assert ("trace: one session, frame by frame" in text) == bool(traced)
    if traced:
        wrong = text[text.index("test_wrong_reply") :]
        assert re.search(r"trace \+\s*\d+\.\d{3} ms  handshake ws://127\.0\.0\.1:\d+/room/lobby -> 101 accepted", wrong)
        assert "send      greet #0 'hello there'" in wrong
        assert "received  'OK'  other: a wrong reply (--ws-other fail)" in wrong
    # The wrong reply: the step, its expectation, what arrived, the last frames with their times.
    wrong = text[text.index("test_wrong_reply") :]
    assert "wrong reply: expected 'NOPE', got 'OK'" in wrong
    assert "chanload step 'greet' (request) failed after" in wrong
    assert "expected: 'NOPE'" in wrong and "arrived:  1 frame, the last 'OK'" in wrong
    assert "> sent     'hello there'" in wrong and "< received 'OK'" in wrong
    assert " ms  " in wrong and "connect  ws://127.0.0.1:" in wrong
    # The timeout: nothing arrived, and the expectation as written.
    waited = text[text.index("test_nothing_arrives") :]
    assert "reply timeout: no reply within 0.3s" in waited
    assert "chanload step 'wait' (expect)" in waited and "arrived:  nothing" in waited
    assert 'expected: json \'{"type": "never"}\'' in waited
    # The server's log, from the failing test on, in its report.
    assert f"chanload server log ({server} chatroom.asgi:application at http://127.0.0.1:" in text
    assert "/room/lobby" in text[text.index("chanload server log") :]
    _left_behind(out)


FOREIGN_SETTINGS = """
from pathlib import Path
from foreign.settings import *  # noqa: F403

DATABASES["default"]["TEST"] = {"NAME": str(Path(__file__).resolve().parent / "test_db.sqlite3")}  # noqa: F405
"""

FOREIGN_TESTS = """
import json, os
import pytest

def test_login_then_the_lobby(ws, django_user_model, channels_live_server):
    django_user_model.objects.create_user("alice", password="alice-secret-pw")  # seen by the server: committed
    ws.login("/accounts/login/", "alice", "alice-secret-pw")
    ws.connect("ws/lobby/")
    ws.request({"command": "join", "room": 1}, {"join": "1"}, step="join")
    with open(os.environ["CHANLOAD_PLUGIN_OUT"], "w") as out:
        json.dump({"pid": channels_live_server.pid, "port": channels_live_server.port}, out)

def test_no_user_no_lobby(ws):
    ws.connect("ws/lobby/")  # the first test's user was flushed: anonymous, refused

@pytest.mark.django_db
def test_in_a_transaction(ws):
    pass
"""


def test_foreign_app_on_the_test_database(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeini(
        f"[pytest]\nDJANGO_SETTINGS_MODULE = settings_test\ndjango_find_project = false\npythonpath = . {APPS_DIR}\n"
    )
    pytester.makepyfile(settings_test=FOREIGN_SETTINGS, test_foreign=FOREIGN_TESTS)
    out = tmp_path / "server.json"
    result = _run(pytester, out=out)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    text = result.stdout.str()
    refused = text[text.index("test_no_user_no_lobby") :]
    assert "handshake rejected: HTTP 403" in refused and "chanload step 'ws/lobby/' (connect)" in refused
    assert "expected: the handshake accepted (HTTP 101)" in refused
    assert "never committed, so the server cannot see it" in text  # django_db without transaction=True
    assert "alice-secret-pw" not in text
    assert "RealDatabaseWarning" not in text  # pytest-django's test database: nothing to warn of
    _left_behind(out)


FOREIGN_IN_MEMORY = (
    f"[pytest]\nDJANGO_SETTINGS_MODULE = foreign.settings\ndjango_find_project = false\npythonpath = {APPS_DIR}\n"
)
# The foreign app's settings with no DJANGO_DB_PATH: NAME ':memory:', no TEST NAME, so an in-memory test database.
SERVED_DB = """
import os
from django.db import connection

def test_it(ws):
    ws.connect('ws/api/items/')
    ws.request({"action": "list", "request_id": 1}, 'json:{"response_status": 200}')  # the served test database
    name = connection.settings_dict["NAME"]
    assert name.endswith("test_default.sqlite3") and os.path.exists(name), name
    with open(os.environ["CHANLOAD_PLUGIN_OUT"], "w") as out:
        out.write(name)
"""


def test_an_in_memory_test_database_becomes_a_temporary_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """startproject's SQLite settings: the test database is a temporary file the server shares, said once, removed."""
    os.environ.pop("DJANGO_DB_PATH", None)
    pytester.makeini(FOREIGN_IN_MEMORY)
    pytester.makepyfile(test_memory=SERVED_DB)
    out = tmp_path / "db-name"
    result = _run(pytester, out=out)
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert text.count("would be in-memory SQLite") == 1, text
    assert "chanload: the test database ('default' -> " in text, text
    name = Path(out.read_text())
    assert not name.exists() and not name.parent.exists(), f"{name} left behind"


def test_an_in_memory_test_database_is_refused_when_the_hook_is_overridden(pytester: pytest.Pytester) -> None:
    """A conftest.py that overrides django_db_modify_db_settings without requesting it: refused, saying what to do."""
    os.environ.pop("DJANGO_DB_PATH", None)
    pytester.makeini(FOREIGN_IN_MEMORY)
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef django_db_modify_db_settings():\n    pass\n"
    )
    pytester.makepyfile(test_memory="def test_it(ws):\n    ws.connect('ws/chat/x/')\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    text = " ".join(result.stdout.str().split())
    assert "the test database of 'default' is an in-memory SQLite database" in text, text
    assert "request django_db_modify_db_settings in your override" in text, text
    assert "DATABASES['default']['TEST']['NAME']" in text, text


def test_a_server_that_dies_says_why(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nchanload_asgi = chatroom.nosuchmodule:application\npythonpath = {TARGET_DIR}\n")
    pytester.makepyfile(test_dead="def test_it(ws):\n    pass\n")
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert "channels_live_server: daphne exited with code" in text and "nosuchmodule" in text


def test_without_pytest_django_the_real_database_is_served_with_a_warning(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django settings with a database, pytest-django not active: the server serves that database, and says so."""
    db = tmp_path / "real.sqlite3"
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "foreign.settings")
    monkeypatch.setenv("DJANGO_DB_PATH", str(db))
    pytester.makeini(f"[pytest]\npythonpath = {APPS_DIR}\n")
    pytester.makepyfile(test_real="def test_it(ws):\n    ws.connect('ws/chat/real/')\n")
    result = _run(pytester, "-p", "no:django")
    result.assert_outcomes(passed=1, warnings=1)
    text = " ".join(result.stdout.str().split())  # the warnings summary wraps nothing, but be safe
    assert (
        f"RealDatabaseWarning: channels_live_server serves the real DATABASES of foreign.settings (sqlite3 '{db}')"
        in text
    )
    assert "Install pytest-django" in text


def test_a_failing_test_that_only_loads_gets_the_servers_log(pytester: pytest.Pytester) -> None:
    """chanload_load asks for channels_live_server mid-test (its static fixture names do not include it): a failing
    test's report still gets the server's log, with the load's connections, beside the load's own section."""
    pytester.makeini(f"[pytest]\nchanload_asgi = chatroom.asgi.application\npythonpath = {TARGET_DIR}\n")
    pytester.makepyfile(
        room_load="from chanload import EchoUser\n\n\nclass Room(EchoUser):\n    route = 'room/{group}'\n",
        test_load="""
def test_load_only(chanload_load):
    result = chanload_load("room_load.py", users=1, spawn_rate=1, run_time="2s")
    assert result.counters["connects"] == 1, result.output
    assert False, "made to fail"
""",
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "made to fail" in text and "chanload load 1" in text
    log = text[text.index("chanload server log (daphne chatroom.asgi:application at http://127.0.0.1:") :]
    assert '"WSCONNECT /room/' in log, log[:3000]
