"""The summary table and its units; counters and bucketing."""

from __future__ import annotations

from chanload.locust.bucketing import bucket_response_time
from chanload.recording.counters import Ledger
from chanload.recording.latency import Aggregate, Recorder
from chanload.recording.resources import Resources
from chanload.reporting.summary import build, format_us, metric_name, render, tls_parameters


def test_units_suit_the_values():
    """us below 1 ms, ms to the microsecond below 1 s, then s; trailing zeros dropped."""
    assert format_us(452) == "452 us"
    assert format_us(452.25) == "452.2 us"
    assert format_us(12345) == "12.345 ms"
    assert format_us(10_000) == "10 ms"
    assert format_us(1_234_000) == "1.234 s"
    assert format_us(None) == "-"


def test_metric_names_drop_the_ws_prefix():
    """Threshold metric names come from request types."""
    assert metric_name("WS message corrected") == "message_corrected"
    assert metric_name("WS connect") == "connect"


def test_locust_buckets_keep_three_significant_digits():
    """0.4537 ms stays 0.454 (Locust's default would make it 0)."""
    assert bucket_response_time(0.4537) == 0.454
    assert bucket_response_time(12.345) == 12.3
    assert bucket_response_time(4567) == 4570
    assert bucket_response_time(0) == 0
    assert bucket_response_time(0.0451) == 0.045  # never finer than 1 us


def test_locust_buckets_match_rounding_to_three_significant_digits():
    """The buckets equal round(x, 2 - floor(log10 x)) from 0.1 ms to 100 s (exact halves aside: they round up)."""
    import math

    values = [10 ** (k / 997) for k in range(-997, 5 * 997)] + [0.99951, 0.99949, 9.9951, 9.9949]
    for ms in values:
        assert bucket_response_time(ms) == round(ms, 2 - math.floor(math.log10(ms))), ms


def test_ledger_totals_add_worker_snapshots_and_reconcile():
    """Absolute snapshots add; sent = ok + failed + in flight."""
    a = Ledger(sent=10, ok=8, failed=1, in_flight=1, connects=2)
    a.failure_kinds["wrong reply"] += 1
    b = Ledger(sent=5, ok=5, connects=1)
    total = Ledger.total([a.snapshot(), b.snapshot()])
    assert (total.sent, total.ok, total.failed, total.in_flight, total.connects) == (15, 13, 1, 1, 3)
    assert total.reconciles and total.failure_kinds == {"wrong reply": 1}
    assert not Ledger(sent=3, ok=1).reconciles


def test_rendered_table_shows_percentiles_and_reconciliation():
    """The printed table holds each row's percentiles in suitable units and the counter line."""
    rec = Recorder()
    for us in range(400, 500):
        rec.record("WS message", "room/[group]", us / 1e6)
    agg = Aggregate()
    for piece in rec.drain():
        agg.add(piece)
    ledger = Ledger(sent=101, ok=100, in_flight=1, connects=1)
    s = build(aggregate=agg, ledger=ledger, rooms={}, timeline={}, parameters={}, status="completed", started=0)
    row = s["latency"][0]
    assert (row["count"], row["p50"], row["max"]) == (100, 449, 499)
    text = render(s)
    assert "449 us" in text and "499 us" in text
    assert "sent 101 = ok 100 + failed 0 + in flight 1 (reconciles)" in text


def test_rendered_thresholds_show_verdict_value_and_exit_code():
    """Each threshold prints PASS/FAIL with its detail; the chanload exit code is shown."""
    s = build(
        aggregate=Aggregate(), ledger=Ledger(), rooms={}, timeline={}, parameters={}, status="completed", started=0
    )
    s["thresholds"] = [
        {"expr": "message:p99<10ms", "passed": True, "detail": "measured 812 us, limit < 10 ms"},
        {"expr": "rps>=500", "passed": False, "detail": "measured 20/s, limit >= 500/s"},
    ]
    s["exit_code"] = 3
    text = render(s)
    assert "thresholds: 1 of 2 passed" in text
    assert "FAIL  rps>=500" in text and "PASS  message:p99<10ms" in text
    assert "chanload exit code: 3" in text


def test_a_busy_generator_is_named_in_the_summary():
    """Past 90% of a core in some second: the warning names each load process that did, with its peak."""
    book = Resources()
    book.generator("master", 10, 0.2)
    book.generator("worker-a", 10, 0.97)
    s = build(
        aggregate=Aggregate(), ledger=Ledger(), rooms={}, timeline={}, parameters={}, status="completed", started=0,
        resources=book.to_dict(),
    )  # fmt: skip
    s["fingerprint"] = {"generator_peak_cpu": 0.97}
    assert s["resources"]["generator"]["worker-a"]["series"] == [{"second": 10, "cpu": 0.97}]
    assert "generator busy: a load process used 97% of a core in its busiest second (worker-a 97%)" in render(s)
    s["fingerprint"] = {"generator_peak_cpu": 0.9}
    assert "generator busy" not in render(s)


def test_target_is_down_only_when_refusals_follow_the_last_ok():
    """A refusal after the last OK reply means down; an OK after it, or no refusal at all, does not."""
    assert Ledger(last_ok_at=100.0, last_refused_at=105.0).target_down
    assert not Ledger(last_ok_at=106.0, last_refused_at=105.0).target_down
    assert not Ledger(last_ok_at=100.0).target_down  # handshake timeouts alone never set last_refused_at
    total = Ledger.total([Ledger(last_ok_at=100.0).snapshot(), Ledger(last_refused_at=101.0).snapshot()])
    assert total.target_down  # times from several workers combine by max, not sum


def test_tls_is_recorded_and_an_unverified_certificate_is_said_loudly():
    """parameters.tls: None for plain ws://, the CA file with --ws-ca-file, verify false under --ws-insecure; the
    console says the last two, the unverified one as a warning."""
    assert tls_parameters("ws://127.0.0.1:8000", None, False) is None
    assert tls_parameters("wss://127.0.0.1:8443", None, False) == {"verify": True, "ca_file": None}
    assert tls_parameters("wss://127.0.0.1:8443", "/ca.pem", False) == {"verify": True, "ca_file": "/ca.pem"}
    assert tls_parameters("wss://127.0.0.1:8443", "/ca.pem", True) == {"verify": False}

    def rendered(tls):
        s = build(
            aggregate=Aggregate(), ledger=Ledger(), rooms={}, timeline={}, parameters={"tls": tls},
            status="completed", started=0,
        )  # fmt: skip
        return render(s)

    assert "TLS" not in rendered(None) and "TLS" not in rendered({"verify": True, "ca_file": None})
    assert "TLS: the server's certificate verified against --ws-ca-file /ca.pem" in rendered(
        {"verify": True, "ca_file": "/ca.pem"}
    )
    assert "TLS NOT VERIFIED: --ws-insecure: the server's certificate is not verified;" in rendered({"verify": False})
