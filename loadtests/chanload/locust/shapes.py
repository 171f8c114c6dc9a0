"""The capacity finder as a Locust LoadTestShape: step users up until a capacity threshold breaks.

    locust -f loadtests/capacity.py RoomUser --headless --capacity-slo 'message:p95<50ms' ...

Each step starts its users, waits `settle` seconds, then opens a window of whole wall-clock seconds
(`--capacity-hold`). The window's own samples (the slices chanload merges, on a master from every
worker) are judged against `--capacity-slo` with chanload.run.slo; the step's handshakes are judged from
the second its users began to start (they connect then, before the window). A window whose two halves disagree
on msg/s by more than 10% is held longer (twice at most). The search stops at the first step that
breaks a threshold, or after the step that reaches `--capacity-max`. The knee goes to the end-of-run
table, summary.json (`capacity`) and report.html.
"""

from __future__ import annotations

from locust import LoadTestShape
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner

import logging
import time

from chanload.recording import types
from chanload.recording.counters import Ledger
from chanload.recording.latency import Aggregate, Slice
from chanload.reporting import summary
from chanload.run import capacity
from chanload.run.state import state

log = logging.getLogger("chanload")
MESSAGE = "message"


class Finder:
    """The search's state, driven once a second by CapacityShape.tick."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.st = state(environment)
        s = self.st.settings
        self.thresholds = s.capacity_slo
        self.plan = capacity.Plan(step=s.capacity_step, start=s.capacity_start or s.capacity_step,
                                  limit=s.capacity_max, hold=s.capacity_hold)  # fmt: skip
        # Slices reach a master with the workers' reports (every WORKER_REPORT_INTERVAL s).
        self.lag = 1.5 + (WORKER_REPORT_INTERVAL if isinstance(environment.runner, MasterRunner) else 0)
        self.index = 0
        self.phase = "spawn"
        self.until = 0.0
        self.window: tuple[int, int] = (0, 0)
        self.began = int(time.time())  # the second this step's users began to start
        self.extensions = 0
        self.slices: list[Slice] = []
        self.steps: list[capacity.StepResult] = []
        self.stopped_by = ""
        # -t bounds the search (Locust leaves a shape's run time to the shape, and says it ignores -t).
        run_time = getattr(environment.parsed_options, "run_time", None)
        self.run_time = float(run_time) if run_time else None
        self.deadline = time.time() + self.run_time if self.run_time else None
        if self.run_time:
            log.warning("chanload: -t %gs bounds the capacity search: it ends there, with what it found", self.run_time)
        self.st.taps.append(self.tap)
        environment.events.quit.add_listener(self.print_table)
        environment.events.test_stop.add_listener(self.interrupted)  # -t, Ctrl-C, SIGTERM, the web UI's stop

    def tap(self, pieces: list[Slice]) -> None:
        self.slices.extend(p for p in pieces if p.second >= self.began)

    def tick(self) -> tuple[int, float] | None:
        now = time.time()
        users = self.plan.users(self.index)
        if self.deadline is not None and now >= self.deadline:
            self.finish(self.cut_short(f"-t {self.run_time:g}s ended the search"))
            return None
        if self.phase == "spawn":
            if self.environment.runner.user_count >= users:
                self.phase, self.until = "settle", now + self.plan.settle
        elif self.phase == "settle" and now >= self.until:
            first = int(now) + 1
            self.window, self.extensions = (first, first + round(self.plan.hold)), 0
            self.phase = "window"
        elif self.phase == "window" and now >= self.window[1] + self.lag:
            return self.judge(users)
        return users, float(max(self.plan.step, 1))

    def judge(self, users: int) -> tuple[int, float] | None:
        first, end = self.window
        inside = [p for p in self.slices if first <= p.second < end or (p.key[0] == types.CONNECT and p.second < end)]
        middle = first + (end - first) // 2
        messages = [p for p in inside if p.key[0] == types.MESSAGE]
        halves = [sum(p.histogram.get_total_count() for p in messages if lo <= p.second < hi)
                  for lo, hi in ((first, middle), (middle, end))]  # fmt: skip
        is_stable = capacity.stable(*halves) if end - first >= 2 else True
        if not is_stable and self.extensions < capacity.MAX_EXTENSIONS:
            self.extensions += 1
            self.window = (first, end + round(self.plan.hold))
            return users, float(max(self.plan.step, 1))
        result = capacity.judge(users, self.sockets(first, end), end - first, self.window_summary(inside, first, end),
                                self.thresholds, is_stable, (first, end))  # fmt: skip
        self.steps.append(result)
        log.info("capacity step %d users: %s", users, "held" if result.passed else "BROKE")
        if not result.passed:
            self.finish(f"{users} users broke {', '.join(t['expr'] for t in result.thresholds if not t['passed'])}")
            return None
        if self.plan.users(self.index + 1) > self.plan.limit:
            self.finish(f"--capacity-max {self.plan.limit} reached")
            return None
        self.index += 1
        self.phase, self.began, self.slices = "spawn", int(time.time()), []
        return self.plan.users(self.index), float(max(self.plan.step, 1))

    def window_summary(self, inside: list[Slice], first: int, end: int) -> dict:
        aggregate = Aggregate()
        for piece in inside:
            aggregate.add(piece)
        ok = sum(aggregate.histogram(k).get_total_count() for k in aggregate.keys() if k[0] == types.MESSAGE)
        failed = sum(n for k, n in aggregate.failures.items() if k[0] == types.MESSAGE)
        ledger = Ledger(sent=ok + failed, ok=ok, failed=failed)
        result = summary.build(aggregate=aggregate, ledger=ledger, rooms={}, timeline={}, parameters={},
                               status="running", started=first)  # fmt: skip
        result["duration_s"] = end - first
        return result

    def sockets(self, first: int, end: int) -> int:
        return max((n for second, n in self.st.timeline.connections() if first <= second < end), default=0)

    def print_table(self, **_kw) -> None:
        """After chanload's own table (the quit listener registered first): the capacity table."""
        if self.st.finished and self.st.finished.get("capacity"):
            print(capacity.render(self.st.finished["capacity"]), flush=True)

    def interrupted(self, **_kw) -> None:
        """The run ended before the search did: its section still says what was found, and that it is a lower bound."""
        if self.stopped_by:
            return
        self.finish(self.cut_short("the run ended"))

    def cut_short(self, what: str) -> str:
        """Why the search stopped before a step broke: where it was, and what the knee then is."""
        held = [s for s in self.steps if s.passed]
        bound = f"; {held[-1].users} users held, a lower bound on the knee" if held else ""
        return f"{what} during the step of {self.plan.users(self.index)} users, before any step broke{bound}"

    def finish(self, why: str) -> None:
        self.stopped_by = why
        resources = self.st.resources.to_dict(series=True)
        self.st.sections["capacity"] = capacity.block(self.steps, self.thresholds, self.plan, why, resources)


class CapacityShape(LoadTestShape):
    """Steps users up (--capacity-step) until a --capacity-slo threshold breaks; reports the knee."""

    finder: Finder | None = None

    def tick(self) -> tuple[int, float] | None:
        if self.finder is None:
            assert self.runner is not None  # Locust sets it before it asks for a tick
            self.finder = Finder(self.runner.environment)
        return self.finder.tick()
