"""What saturated first (chanload/run/saturation.py): its rule on made-up series, and the capacity finder on three
targets whose limit is known in advance (a consumer that burns CPU, a low file-descriptor limit, a tiny channel
layer queue behind a slow consumer)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chanload.run import capacity, saturation
from tests.locustrun import run_locust
from tests.servers import ROOT, daphne, redis_server, stop

CAPACITY = ROOT / "loadtests" / "capacity.py"


def series(first: int, seconds: int, **figures) -> list[dict]:
    return [{"second": first + i, **figures} for i in range(seconds)]


def step(users: int, window: tuple[int, int], passed: bool = True) -> dict:
    return {"users": users, "window": list(window), "passed": passed}


def daphne_source(cpu: list[float], busiest: list[float] | None = None, processes: int = 1, fd: float = 0.1) -> dict:
    busiest = busiest or cpu
    samples = [
        {"second": 100 + i, "cpu": c, "cpu_busiest": b, "processes": processes, "fd_ratio": fd}
        for i, (c, b) in enumerate(zip(cpu, busiest, strict=True))
    ]
    return {"pid": 1, "cores": 2, "fd_limit": 1024, "exited": None, "series": samples}


STEPS = [step(10, (100, 103)), step(20, (103, 106)), step(30, (106, 109), passed=False)]


def test_a_process_at_one_core_is_saturated_from_the_step_it_got_there():
    """CPU 0.3, 0.6, then 0.97 of one core: saturated at step 3, named with its users; fds stay low."""
    cpu = [0.3] * 3 + [0.6] * 3 + [0.97] * 3
    limit = saturation.attribute(STEPS, {"processes": {"daphne": daphne_source(cpu)}})
    assert limit["verdict"] == "saturated"
    assert limit["text"] == "daphne CPU at 97% of one core from step 3 (30 users)"
    assert limit["resource"]["figure"] == "cpu" and limit["resource"]["step"] == 3
    assert [s["figure"] for s in limit["saturated"]] == ["cpu"]
    assert limit["busiest"][0]["text"] == "daphne CPU at 97% of one core"


def test_one_busy_process_in_a_tree_is_saturated_though_the_tree_has_cores_to_spare():
    """A wrapper and its Daphne on 2 cores: the tree uses 1.0 of 2 (50%), its busiest process 0.98 of its one."""
    source = daphne_source([1.0] * 9, busiest=[0.98] * 9, processes=2)
    limit = saturation.attribute(STEPS, {"processes": {"daphne": source}})
    assert limit["text"].startswith("daphne CPU (its busiest process) at 98% of one core from step 1")
    # Two busy processes, 0.9 each, on 2 cores: the tree's cores are the tighter limit (90% of 2).
    source = daphne_source([1.8] * 9, busiest=[0.5] * 9, processes=3)
    limit = saturation.attribute(STEPS, {"processes": {"daphne": source}})
    assert limit["resource"]["amount"] == "at 1.80 cores of 2 (90%)"


def test_the_earliest_saturation_wins_and_its_later_reading_is_shown():
    """fds reach 92% at step 2 and 100% at step 3, CPU 99% at step 3: the fds, 'from step 2', '100% at step 3'."""
    source = daphne_source([0.2] * 6 + [0.99] * 3)
    for sample, fd in zip(source["series"], [0.3] * 3 + [0.92] * 3 + [1.0] * 3, strict=True):
        sample["fd_ratio"] = fd
    limit = saturation.attribute(STEPS, {"processes": {"daphne": source}})
    assert limit["text"] == (
        "daphne file descriptors at 92% of the limit (1024) from step 2 (20 users), at 100% of the limit (1024) "
        "at step 3"
    )
    assert [(s["figure"], s["step"]) for s in limit["saturated"]] == [("fds", 2), ("cpu", 3)]


def test_a_process_that_exited_is_the_limit():
    source = daphne_source([0.2] * 4)
    source["exited"] = 104
    limit = saturation.attribute(STEPS, {"processes": {"daphne": source}})
    assert limit["text"] == "daphne exited (second 104) from step 2 (20 users)"


def test_the_channel_layer_queue_redis_memory_and_silence():
    """A queue at its capacity; memory near maxmemory; a second Redis did not answer: each is saturated."""
    redis = {
        "capacity": 5,
        "series": series(100, 6, cpu=0.1, used_memory_bytes=10, maxmemory_bytes=100, queued_max_ratio=0.2)
        + series(106, 3, cpu=0.1, used_memory_bytes=10, maxmemory_bytes=100, queued_max_ratio=1.0),
    }
    limit = saturation.attribute(STEPS, {"redis": {"redis": redis}})
    assert limit["text"] == "channel-layer queue at capacity (5) from step 3 (30 users)"
    redis["series"][4].update(used_memory_bytes=95)
    assert saturation.attribute(STEPS, {"redis": {"redis": redis}})["text"].startswith(
        "redis memory at 95% of maxmemory (0 MiB) from step 2"
    )
    redis["series"][1] = {"second": 101, "available": False, "error": "Timeout"}
    assert saturation.attribute(STEPS, {"redis": {"redis": redis}})["text"] == (
        "redis did not answer in 1 of 3 seconds (Timeout) from step 1 (10 users)"
    )


def test_a_busy_generator_is_named_as_what_may_be_measured():
    generator = {"local": {"series": series(100, 9, cpu=0.95)}}
    limit = saturation.attribute(STEPS, {"processes": {"daphne": daphne_source([0.3] * 9)}, "generator": generator})
    assert limit["text"].startswith("load process local CPU at 95% of one core from step 1 (10 users): the generator")
    assert "add workers" in limit["text"]


def test_nothing_saturated_says_the_limit_is_elsewhere_and_names_the_busiest():
    limit = saturation.attribute(STEPS, {"processes": {"daphne": daphne_source([0.45] * 9)}})
    assert limit["verdict"] == "none" and limit["resource"] is None
    assert limit["text"] == (
        f"none of the watched resources saturated (daphne): {saturation.ELSEWHERE}; the busiest at step 3: "
        "daphne CPU at 45% of one core"
    )


def test_with_nothing_watched_it_says_what_to_give():
    limit = saturation.attribute(STEPS, {"generator": {"local": {"series": series(100, 9, cpu=0.1)}}})
    assert limit["verdict"] == "unwatched" and "--watch NAME=PID" in limit["text"]
    assert saturation.attribute([], {}) is None


def test_the_capacity_table_and_report_show_the_limit():
    block = {"thresholds": ["message:p95<5ms"], "stopped_by": "x", "steps": [], "knee": None,
             "limit": {"text": "daphne CPU at 99% of one core from step 6 (60 users)"}}  # fmt: skip
    assert "limit: daphne CPU at 99% of one core from step 6 (60 users)" in capacity.render(block)
    assert "What saturated first: daphne CPU at 99% of one core from step 6 (60 users)" in capacity.html(block)


# --- The finder on targets whose limit is known -------------------------------------------------------------
#
# Each search has two steps: one at well under the target's limit (about 40%) and one well over it (200% or
# more), so the first holds and the second breaks whatever the machine's noise, and the limit is at 100% in
# the second. They are `timing` tests: a target must get its core to itself to reach 90% of it.


def search(tmp_path, host: str, *args: str):
    run = run_locust(tmp_path, host, *args, "--capacity-hold", "3", locustfile=CAPACITY, run_time="120s", timeout=150)
    assert "Traceback" not in run.output, run.output[-3000:]
    found = run.summary["capacity"]
    assert [s["passed"] for s in found["steps"]] == [True, False], found["steps"]
    limit = found["limit"]
    assert f"limit: {limit['text']}" in run.output
    page = (run.report_dir / "report.html").read_text()
    assert "What saturated first:" in page
    return limit


@pytest.mark.timing
@pytest.mark.e2e
def test_a_consumer_that_burns_cpu_is_named_by_its_cpu(tmp_path):
    """aroom/ busy-waits 5 ms per message (CHAT_REPLY_DELAY_US): one process answers at most 200 msg/s. Steps of
    80 msg/s (40%) and 400 msg/s (200%): the second breaks, and Daphne's CPU is what saturated."""
    with daphne(env={**os.environ, "CHAT_REPLY_DELAY_US": "5000"}) as target:
        limit = search(
            tmp_path, target.ws_url, "AsyncRoomUser", "--ws-rate", "10", "--capacity-start", "8",
            "--capacity-step", "32", "--capacity-max", "40", "--capacity-slo", "message_corrected:p95<200ms",
            "--watch", f"daphne={target.proc.pid}",
        )  # fmt: skip
    assert limit["verdict"] == "saturated", limit
    assert (limit["resource"]["source"], limit["resource"]["figure"]) == ("daphne", "cpu"), limit
    assert limit["resource"]["ratio"] >= saturation.SATURATED
    assert {s["figure"] for s in limit["saturated"]} == {"cpu"}, limit["saturated"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_low_file_descriptor_limit_is_named_by_its_descriptors(tmp_path):
    """Daphne with RLIMIT_NOFILE 80 (13 of them its own at rest): 20 sockets hold, 80 cannot all be accepted."""
    with daphne(nofile=80) as target:
        limit = search(
            tmp_path, target.ws_url, "RoomUser", "--ws-rate", "2", "--capacity-start", "20", "--capacity-step", "60",
            "--capacity-max", "80", "--capacity-slo", "connect:fail_ratio<1%", "--watch", f"daphne={target.proc.pid}",
        )  # fmt: skip
    assert limit["verdict"] == "saturated", limit
    assert (limit["resource"]["source"], limit["resource"]["figure"]) == ("daphne", "fds"), limit
    assert limit["resource"]["step"] == 2 and "of the limit (80)" in limit["text"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_tiny_channel_layer_queue_behind_a_slow_consumer_is_named_by_the_queue(tmp_path):
    """tests/apps/slowqueue.py: a queue of capacity 10 in Redis, drained at 25 messages/s by a consumer that
    sleeps. 10 msg/s (40%) holds; 50 msg/s (200%) fills the queue, the layer refuses (FULL), and the queue is
    named, not Daphne's CPU or Redis's."""
    with redis_server() as url:
        env = {**os.environ, "REDIS_URL": url, "SLOWQUEUE_CAPACITY": "10", "SLOWQUEUE_TASK_MS": "40"}
        worker = subprocess.Popen([sys.executable, "-m", "tests.apps.slowqueue"], cwd=ROOT, env=env)
        try:
            with daphne("tests.apps.slowqueue:application", cwd=ROOT, env=env) as app:
                limit = search(
                    tmp_path, app.ws_url, "RoomUser", "--ws-path", "work/{group}", "--ws-rate", "2",
                    "--capacity-start", "5", "--capacity-step", "20", "--capacity-max", "25",
                    "--capacity-slo", "fail_ratio<1%", "--watch", f"daphne={app.proc.pid}", "--watch-redis", url,
                    "--watch-redis-capacity", "10",
                )  # fmt: skip
        finally:
            stop(worker)
    assert limit["verdict"] == "saturated", limit
    assert (limit["resource"]["group"], limit["resource"]["figure"]) == ("redis", "queue"), limit
    assert limit["text"].startswith("channel-layer queue at capacity (10) from step 2"), limit
    assert {s["figure"] for s in limit["saturated"]} == {"queue"}, limit["saturated"]
