"""wss:// as deployed: nginx terminating TLS in front of two Daphne processes on Redis, a private CA of the test's.

The CA is a real one (BasicConstraints ca=True, keyCertSign), and nginx's certificate for 127.0.0.1 is signed by
it, not self-signed: what `--ws-ca-file` is for. The same nginx also listens in plain ws://, so both schemes reach
the same proxy and processes.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import launch
from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT, free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

FAST = ("RoomUser", "--ws-think", "0.05-0.1")
USAGES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
          "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip


def private_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 it signed, as PEM files in `folder`: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def key_usage(*allowed: str) -> x509.KeyUsage:
        return x509.KeyUsage(**{usage: usage in allowed for usage in USAGES})

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chanload test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # the leaf only: the CA is the root
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Redis, two Daphne processes, nginx with a plain port and a TLS port whose certificate the test's CA signed."""
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = private_ca(folder)
    with launch.scaled(2, tls=launch.Tls(cert, key)) as layout:
        layout.ca = ca  # type: ignore[attr-defined]
        yield layout


def reconciled(summary: dict) -> None:
    counters = summary["counters"]
    assert counters["reconciles"], counters
    assert counters["sent"] == counters["ok"] + counters["failed"] + counters["in_flight"], counters


def test_wss_through_nginx_with_the_private_ca_runs_clean(stack, tmp_path):
    """--ws-ca-file ca.pem: exit 0, every message OK, counters reconcile, connect rows; the CA file is recorded."""
    run = run_locust(tmp_path, stack.wss_host, *FAST, "--ws-ca-file", str(stack.ca), run_time="4s")
    assert run.code == 0, run.output[-3000:]
    summary = run.summary
    assert summary["status"] == "completed"
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0, summary["counters"]
    assert summary["counters"]["connects"] > 0 and summary["counters"]["connect_failures"] == 0
    reconciled(summary)
    connect = run.row("WS connect", "room/[group]")
    assert connect["count"] > 0 and connect["failures"] == 0
    assert run.row("WS message", "room/[group]")["count"] == summary["counters"]["ok"]
    assert summary["parameters"]["tls"] == {"verify": True, "ca_file": str(stack.ca)}
    assert f"TLS: the server's certificate verified against --ws-ca-file {stack.ca}" in run.output
    assert "--ws-insecure: the server's certificate is not verified" not in run.output


def test_wss_without_the_ca_stops_before_any_load_with_exit_2(stack, tmp_path):
    """No --ws-ca-file: the certificate does not verify, so the run stops at start with exit 2 and says why."""
    port = stack.tls.port
    run = run_locust(tmp_path, stack.wss_host, *FAST, run_time="4s")
    assert run.code == 2, run.output[-3000:]
    assert f"chanload: error: certificate rejected: 127.0.0.1:{port}'s TLS certificate is not trusted (" in run.output
    assert "give --ws-ca-file PATH" in run.output and "--ws-insecure to skip verification" in run.output
    assert not (run.report_dir / "summary.json").exists()  # nothing ran: no artifacts
    assert "WS connect" not in run.output and "chanload latency" not in run.output


def test_wss_with_ws_insecure_runs_and_warns(stack, tmp_path):
    """--ws-insecure: the run goes on, warns at start, and the summary, console and report.html say so."""
    run = run_locust(tmp_path, stack.wss_host, *FAST, "--ws-insecure", run_time="4s")
    assert run.code == 0, run.output[-3000:]
    assert "chanload: --ws-insecure: the server's certificate is not verified;" in run.output
    assert "TLS NOT VERIFIED: --ws-insecure" in run.output  # the end-of-run summary
    summary = run.summary
    assert summary["parameters"]["tls"] == {"verify": False}
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0
    reconciled(summary)
    html = (run.report_dir / "report.html").read_text()
    assert 'role="note">TLS NOT VERIFIED: --ws-insecure' in html


def test_the_same_nginx_serves_plain_ws_and_records_no_tls(stack, tmp_path):
    """nginx's plain port (the baseline of docs/latency.md's TLS figures): no TLS, no `tls` parameter, no line."""
    run = run_locust(tmp_path, stack.host, *FAST, run_time="3s")
    assert run.code == 0, run.output[-3000:]
    assert run.summary["parameters"]["tls"] is None
    assert "TLS" not in run.output.split("chanload latency", 1)[1]


def test_a_dead_wss_host_behaves_as_a_dead_ws_host(tmp_path):
    """Nothing listens: the start-up TLS check lets it through, and the run reports target_unreachable (exit 5)."""
    port = free_port()
    run = run_locust(tmp_path, f"wss://127.0.0.1:{port}", *FAST, run_time="3s")
    assert run.code == 5, run.output[-3000:]
    assert run.summary["status"] == "target_unreachable"
    assert "certificate" not in run.output


def test_the_docs_wss_command_runs(stack, tmp_path):
    """docs/scaling.md's wss:// command, as shown (its host, ca.pem and report folder swapped for the test's, -t 3s)."""
    text = (ROOT / "docs" / "scaling.md").read_text()
    [block] = [b.split("```")[0] for b in text.split("```sh\n")[1:] if "--ws-ca-file" in b.split("```")[0]]
    words = shlex.split(block.replace("\\\n", " "), comments=True)
    assert words[0] == "locust" and "wss://127.0.0.1:8443" in words and "ca.pem" in words
    swap = {"wss://127.0.0.1:8443": stack.wss_host, "ca.pem": str(stack.ca), "1m": "3s",
            "reports/wss": str(tmp_path / "report")}  # fmt: skip
    cmd = [sys.executable, "-m", *[swap.get(w, w) for w in words]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0
    assert summary["parameters"]["tls"] == {"verify": True, "ca_file": str(stack.ca)}
