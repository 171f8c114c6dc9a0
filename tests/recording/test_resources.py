"""The per-second resource books: one sample per second in order, peaks, an exited process, the busy generator."""

from __future__ import annotations

import json

from chanload.recording.resources import GENERATOR_BUSY, Resources


def test_samples_stay_one_per_second_in_order_and_a_gap_stays_a_gap():
    """The same second again replaces its sample, a late one is dropped, a second never sampled is absent."""
    book = Resources()
    for second, cpu in ((100, 0.1), (101, 0.2), (101, 0.25), (103, 0.4), (102, 0.9)):
        book.add("processes", "daphne", {"second": second, "cpu": cpu})
    series = book.to_dict()["processes"]["daphne"]["series"]
    assert [(s["second"], s["cpu"]) for s in series] == [(100, 0.1), (101, 0.25), (103, 0.4)]
    assert book.source("processes", "daphne").since(100) == series[1:]
    assert book.source("processes", "daphne").since(103) == []


def test_peaks_are_each_figures_largest_and_unavailable_seconds_are_kept_without_figures():
    """Peaks per figure over the samples that have it; flags and an unavailable second add no figure."""
    book = Resources()
    book.add("redis", "redis", {"second": 1, "available": True, "ops_per_second": 10.0, "queued_max": 4})
    book.add("redis", "redis", {"second": 2, "available": False, "error": "Timeout reading from socket"})
    book.add("redis", "redis", {"second": 3, "available": True, "ops_per_second": 30.0, "queued_max": 2})
    redis = book.to_dict()["redis"]["redis"]
    assert redis["peak"] == {"ops_per_second": 30.0, "queued_max": 4}
    assert [s["available"] for s in redis["series"]] == [True, False, True]
    assert redis["latest"]["second"] == 3


def test_a_process_that_exits_is_recorded_exited_and_nothing_follows():
    """The exit second is kept; a later sample (a new process with the same PID) is not added to its series."""
    book = Resources()
    book.declare("processes", "daphne", {"pid": 4242, "cores": 2})
    book.add("processes", "daphne", {"second": 10, "cpu": 0.5, "rss_bytes": 1000})
    book.add("processes", "daphne", {"second": 11, "exited": True})
    book.add("processes", "daphne", {"second": 12, "cpu": 0.1, "rss_bytes": 5})
    daphne = book.to_dict()["processes"]["daphne"]
    assert daphne["exited"] == 11
    assert daphne["pid"] == 4242 and daphne["cores"] == 2
    assert [s["second"] for s in daphne["series"]] == [10, 11]
    assert daphne["peak"] == {"cpu": 0.5, "rss_bytes": 1000}


def test_the_busy_generator_is_named_once_per_process():
    """generator() says True the first second a load process passes GENERATOR_BUSY, never again for it."""
    book = Resources()
    assert not book.generator("local", 1, GENERATOR_BUSY)  # at the limit: not over it
    assert book.generator("local", 2, 0.95)
    assert not book.generator("local", 3, 0.99)
    assert book.generator("worker-1", 3, 1.2)
    out = book.to_dict()
    assert out["generator_busy"] == {"limit": GENERATOR_BUSY, "processes": ["local", "worker-1"]}
    assert out["generator"]["local"]["peak"]["cpu"] == 0.99
    assert [s["second"] for s in out["generator"]["local"]["series"]] == [1, 2, 3]


def test_the_live_form_has_no_series_and_both_forms_are_json():
    """to_dict(series=False), read at every live poll, carries the latest second and the peaks only."""
    book = Resources()
    book.add("processes", "daphne", {"second": 5, "cpu": 0.3})
    live = book.to_dict(series=False)
    assert "series" not in live["processes"]["daphne"]
    assert live["processes"]["daphne"]["latest"] == {"second": 5, "cpu": 0.3}
    assert json.loads(json.dumps(book.to_dict())) == book.to_dict()
    assert set(live) == {"interval_s", "processes", "redis", "generator", "generator_busy"}
