"""What saturated first: the watched resources read over each capacity step's window, and the one to blame.

The capacity finder knows *where* the knee is; this says *why there*. Each step's window (whole seconds, the
same epoch seconds as `summary.json`'s `resources` series, see chanload.recording.resources) is read for every
watched source, and a resource is saturated in a step when its reading reaches SATURATED of what it can give:

| resource | reading over the window | of what |
|---|---|---|
| a watched process's CPU | mean of `cpu_busiest` | one core (the busiest process of its tree) |
| | mean of `cpu` | the cores the tree may use |
| its file descriptors | largest `fd_ratio` | the soft RLIMIT_NOFILE (at 100% accept() fails: EMFILE) |
| its life | `exited` in or before the window | (always saturated: it is gone) |
| Redis's CPU | mean of `cpu` | one core (Redis runs commands on one thread) |
| Redis's memory | largest `used_memory_bytes` | `maxmemory`, when one is set |
| Redis's answers | seconds it did not answer | (saturated from the first such second) |
| the channel layer's fullest queue | largest `queued_max_ratio` | the layer's `capacity` (at 100% group_send drops) |
| a load process's own CPU | mean of `cpu` | one core (gevent runs on one) |

One core per process: CPython runs one thread at a time, so a Daphne or uvicorn process is saturated at one
core however many the machine has; a tree of processes (a supervisor and its workers) is saturated when one
of them is, or when the tree uses the cores it may.

The limit is the resource saturated at the earliest step; among those of the same step, the one read highest.
When none saturated, the limit is not among what was watched, and the busiest reading at the last step is shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SATURATED = 0.9
ELSEWHERE = "the limit is elsewhere (the consumer's own waits, the database, a lock)"


@dataclass(frozen=True)
class Reading:
    """One resource over one step's window: `ratio` of what it can give, in words as `what` at `amount`."""

    group: str
    source: str
    figure: str
    ratio: float
    what: str
    amount: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.group, self.source, self.figure

    @property
    def text(self) -> str:
        return f"{self.what} {self.amount}"


def _window(source: dict, first: int, end: int) -> list[dict]:
    return [s for s in source.get("series") or () if first <= s["second"] < end]


def _mean(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
    return sum(values) / len(values) if values else None


def _peak(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
    return max(values) if values else None


def _cores(share: float, of: int) -> str:
    return f"at {share:.0%} of one core" if of == 1 else f"at {share:.2f} cores of {of} ({share / of:.0%})"


def _process(name: str, source: dict, first: int, end: int) -> list[Reading]:
    found = []
    if source.get("exited") is not None and source["exited"] < end:
        found.append(Reading("processes", name, "exited", 1.0, name, f"exited (second {source['exited']})"))
    window = _window(source, first, end)
    busiest, cpu = _mean(window, "cpu_busiest"), _mean(window, "cpu")
    if busiest is not None and cpu is not None:
        cores = int(source.get("cores") or 1)
        if busiest >= cpu / cores:  # one process's core is the tighter limit
            tree = int(_peak(window, "processes") or 1)
            what = f"{name} CPU" if tree == 1 else f"{name} CPU (its busiest process)"
            found.append(Reading("processes", name, "cpu", busiest, what, _cores(busiest, 1)))
        else:
            found.append(Reading("processes", name, "cpu", cpu / cores, f"{name} CPU", _cores(cpu, cores)))
    fds = _peak(window, "fd_ratio")
    if fds is not None:
        limit = f" ({source['fd_limit']})" if source.get("fd_limit") else ""
        found.append(
            Reading("processes", name, "fds", fds, f"{name} file descriptors", f"at {fds:.0%} of the limit{limit}")
        )
    return found


def _redis(name: str, source: dict, first: int, end: int) -> list[Reading]:
    window = _window(source, first, end)
    found = []
    silent = [s for s in window if s.get("available") is False]
    if silent:
        why = f"did not answer in {len(silent)} of {len(window)} seconds ({silent[-1].get('error')})"
        found.append(Reading("redis", name, "available", 1.0, name, why))
    cpu = _mean(window, "cpu")
    if cpu is not None:
        found.append(Reading("redis", name, "cpu", cpu, f"{name} CPU", _cores(cpu, 1)))
    used, limit = _peak(window, "used_memory_bytes"), _peak(window, "maxmemory_bytes")
    if used is not None and limit:
        found.append(Reading("redis", name, "memory", used / limit, f"{name} memory",
                             f"at {used / limit:.0%} of maxmemory ({limit / 2**20:.0f} MiB)"))  # fmt: skip
    queued = _peak(window, "queued_max_ratio")
    if queued is not None:
        capacity = source.get("capacity")
        amount = f"at capacity ({capacity})" if queued >= 1 else f"at {queued:.0%} of capacity ({capacity})"
        found.append(Reading("redis", name, "queue", queued, "channel-layer queue", amount))
    return found


def _generator(name: str, source: dict, first: int, end: int) -> list[Reading]:
    cpu = _mean(_window(source, first, end), "cpu")
    if cpu is None:
        return []
    return [Reading("generator", name, "cpu", cpu, f"load process {name} CPU", _cores(cpu, 1))]


def readings(resources: dict, first: int, end: int) -> list[Reading]:
    """Every watched resource over the seconds [first, end), busiest first."""
    found: list[Reading] = []
    for group, read in (("processes", _process), ("redis", _redis), ("generator", _generator)):
        for name, source in sorted((resources.get(group) or {}).items()):
            found += read(name, source, first, end)
    return sorted(found, key=lambda r: -r.ratio)


def _entry(reading: Reading, index: int, users: int) -> dict:
    return {
        **asdict(reading),
        "ratio": round(reading.ratio, 4),
        "text": reading.text,
        "step": index + 1,
        "users": users,
    }


def attribute(steps: list[dict], resources: dict | None) -> dict | None:
    """summary.json's `capacity.limit`: what saturated first over the judged steps (each with its `window`).

    `verdict` is `saturated` (then `resource` is the one to blame, and `saturated` lists each resource that
    saturated, at its first step), `none` (nothing watched saturated: the limit is elsewhere) or `unwatched`
    (no target process or Redis was watched). `busiest` holds the last step's readings, highest first.
    """
    if not steps:
        return None
    resources = resources or {}
    first_seen: dict[tuple[str, str, str], tuple[int, Reading]] = {}
    per_step: list[list[Reading]] = []
    for index, step in enumerate(steps):
        window = step.get("window") or (0, 0)
        found = readings(resources, *window)
        per_step.append(found)
        for reading in found:
            if reading.ratio >= SATURATED and reading.key not in first_seen:
                first_seen[reading.key] = (index, reading)
    last = len(steps) - 1
    busiest = [_entry(r, last, steps[last]["users"]) for r in per_step[last]]
    order = sorted(first_seen.values(), key=lambda item: (item[0], -item[1].ratio))
    saturated = [_entry(r, i, steps[i]["users"]) for i, r in order]
    watched = sorted(resources.get("processes") or {}) + sorted(resources.get("redis") or {})
    out: dict = {"threshold": SATURATED, "watched": watched, "saturated": saturated, "busiest": busiest}
    if order:
        index, reading = order[0]
        text = f"{reading.text} from step {index + 1} ({steps[index]['users']} users)"
        now = next((r for r in per_step[last] if r.key == reading.key), None)
        if index != last and now is not None and now.amount != reading.amount:
            text += f", {now.amount} at step {last + 1}"
        if reading.group == "generator":
            text += ": the generator's own CPU, not the target, may be the limit; add workers"
        return {**out, "verdict": "saturated", "resource": saturated[0], "text": text}
    if not watched:
        return {**out, "verdict": "unwatched", "resource": None,
                "text": "no target resource was watched: give --watch NAME=PID (and --watch-redis URL) to learn "
                        "what saturated"}  # fmt: skip
    top = next((r for r in per_step[last] if r.group != "generator"), None)
    text = f"none of the watched resources saturated ({', '.join(watched)}): {ELSEWHERE}"
    if top is not None:
        text += f"; the busiest at step {last + 1}: {top.text}"
    return {**out, "verdict": "none", "resource": None, "text": text}
