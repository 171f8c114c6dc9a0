"""Checks before any port is bound or load started: user class names, report dir, nothing open beyond loopback."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from types import SimpleNamespace

import psutil
import pytest

from chanload.locust.preflight import certificate_refusal, check, is_loopback
from tests.apps.rawws import self_signed
from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT, free_port, stop, wait_for_port

CLASSES = ["AsyncRoomUser", "ChatUser", "RoomUser"]


def opts(**changes):
    base = dict(
        user_classes=[], report_dir="", worker=False, master=False, headless=False, web_login=False,
        web_host="127.0.0.1", master_bind_host="127.0.0.1", allow_remote_workers=False,
    )  # fmt: skip
    return SimpleNamespace(**{**base, **changes})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("*", False), ("", False), ("0.0.0.0", False), ("::", False), ("192.0.2.1", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    """Only addresses (or names) of this machine's loopback count; '*' and '' mean every interface."""
    assert is_loopback(host) is loopback


def test_check_accepts_the_defaults_and_names_each_problem(tmp_path):
    """The defaults pass; each problem gives one message that names the option and the way out."""
    assert check(opts(), CLASSES) == []
    assert check(opts(user_classes=["RoomUser"], report_dir=str(tmp_path / "r")), CLASSES) == []
    [error] = check(opts(user_classes=["RoomUsr"]), CLASSES)
    assert error.startswith("unknown user class RoomUsr") and "AsyncRoomUser, ChatUser, RoomUser" in error
    [error] = check(opts(web_host="0.0.0.0"), CLASSES)
    assert "--web-host '0.0.0.0'" in error and "--web-login" in error
    assert check(opts(web_host="0.0.0.0", web_login=True), CLASSES) == []
    assert check(opts(web_host="0.0.0.0", headless=True), CLASSES) == []  # no web UI in a headless run
    [error] = check(opts(master=True, headless=True, master_bind_host="*"), CLASSES)
    assert "--master-bind-host '*'" in error and "--allow-remote-workers" in error
    assert check(opts(master=True, master_bind_host="*", allow_remote_workers=True), CLASSES) == []
    (tmp_path / "f").write_text("x")
    [error] = check(opts(report_dir=str(tmp_path / "f")), CLASSES)
    assert error.startswith(f"--report-dir {tmp_path / 'f'}")
    assert check(opts(report_dir=str(tmp_path / "f"), worker=True), CLASSES) == []  # workers write nothing


def tls_listener(context: ssl.SSLContext | None) -> int:
    """A loopback listener that accepts one connection, does the TLS handshake (if `context`), and closes it."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = listener.accept()
        listener.close()
        try:
            conn.settimeout(5 * UNIT)
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
        except OSError:
            pass  # the client refused the certificate
        finally:
            conn.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_certificate_refusal_handshakes_wss_only_and_judges_nothing_but_the_certificate(tmp_path):
    """wss://: an untrusted certificate gives CertificateRejected's message; trusted (--ws-ca-file), unverified
    (--ws-insecure), ws://, a dead port or a server that does not speak TLS give None (the run deals with those)."""
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    timeout = 5 * UNIT
    port = tls_listener(context)
    refusal = certificate_refusal(f"wss://127.0.0.1:{port}", None, False, timeout)
    assert refusal is not None
    assert refusal.startswith(f"certificate rejected: 127.0.0.1:{port}'s TLS certificate is not trusted (self")
    assert "give --ws-ca-file PATH" in refusal and "--ws-insecure" in refusal
    assert certificate_refusal(f"wss://127.0.0.1:{tls_listener(context)}", str(cert), False, timeout) is None
    assert certificate_refusal(f"wss://127.0.0.1:{free_port()}", None, True, timeout) is None  # not even tried
    assert certificate_refusal(f"ws://127.0.0.1:{free_port()}", None, False, timeout) is None
    assert certificate_refusal(f"wss://127.0.0.1:{free_port()}", None, False, timeout) is None  # nothing listens
    assert certificate_refusal(f"wss://127.0.0.1:{tls_listener(None)}", None, False, timeout) is None  # no TLS


@pytest.mark.e2e
def test_unknown_user_class_exits_2_naming_the_classes(tmp_path):
    """`RoomUsr`: exit 2 before any load (Locust's own check exits 1), with the classes there are."""
    run = run_locust(tmp_path, f"ws://127.0.0.1:{free_port()}", "RoomUsr")
    assert run.code == 2, run.output[-2000:]
    assert "unknown user class RoomUsr: the locustfile has AsyncRoomUser, ChatUser, IdleUser, RoomUser" in run.output
    assert "Ramping to" not in run.output and not run.report_dir.exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [("--web-host", "0.0.0.0"), ("--headless", "--master", "--master-bind-host", "*")],
    ids=["web-host", "master-bind-host"],
)
def test_binding_beyond_loopback_without_auth_is_refused(args):
    """The web UI or the master port on every interface, no login: exit 2, and how to do it safely."""
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--host", "ws://127.0.0.1:1", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"chanload: error: {args[-2]} '{args[-1]}'" in proc.stderr
    assert "Starting web interface" not in proc.stderr


@pytest.mark.e2e
def test_web_ui_and_master_listen_on_loopback_by_default(target):
    """No --web-host, no --master-bind-host: both listening sockets are bound to 127.0.0.1 only."""
    web, master = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--host", target.ws_url, "--master",
         "--web-port", str(web), "--master-bind-port", str(master)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_port(web, proc, 30 * UNIT)
        listening = {
            c.laddr.port: c.laddr.ip
            for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
    finally:
        stop(proc)
        out = proc.communicate(timeout=30 * UNIT)[0]
    assert listening.get(web) == "127.0.0.1", (listening, out[-2000:])
    assert listening.get(master) == "127.0.0.1", (listening, out[-2000:])
