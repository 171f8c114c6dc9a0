"""A run's fingerprint: what could make two runs incomparable, recorded in summary.json for `compare`.

- `versions`: Python, chanload, Locust, and Django, Channels, Daphne, uvicorn, channels-redis as installed
  beside the generator (None when not installed there; a target run elsewhere may differ).
- `cpu`: the generator machine's CPU count, the CPUs this process may use, and the CPU model; `host`: its name.
- `load`: the target URL, users, spawn rate, per-connection rate and arrivals or think time, run time and user
  classes.
- `generator_peak_cpu`: the highest share of one core a generator process used in any second of the run
  (0.93 = 93%), the largest over the local process or the master and its workers. Above 0.9 the latency
  may be the generator's own.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version

from chanload.recording.resources import GENERATOR_BUSY
from chanload.version import __version__

PACKAGES = ("locust", "django", "channels", "daphne", "uvicorn", "channels-redis")

# Fields `compare` weighs: a difference in one of these may make the comparison unfair.
UNFAIR = (
    "versions.python",
    "versions.chanload",
    "versions.locust",
    "versions.django",
    "versions.channels",
    "versions.daphne",
    "versions.uvicorn",
    "versions.channels-redis",
    "cpu.count",
    "cpu.usable",
    "cpu.model",
    "host",
    "load.target",
    "load.users",
    "load.rate",
    "load.arrivals",
    "load.think",
    "load.run_time",
    "load.user_classes",
)


def build(parameters: dict, peak_cpu: float | None) -> dict:
    """The fingerprint of a run with these summary `parameters` and its generator's peak CPU (share of a core)."""
    target = parameters.get("host") or ""
    if parameters.get("path"):
        target = target.rstrip("/") + "/" + str(parameters["path"]).lstrip("/")
    return {
        "versions": _versions(),
        "cpu": _cpu(),
        "host": socket.gethostname(),
        "load": {
            "target": target or None,
            "users": parameters.get("users"),
            "spawn_rate": parameters.get("spawn_rate"),
            "rate": parameters.get("rate"),
            "arrivals": parameters.get("arrivals"),
            "think": parameters.get("think"),
            "run_time": parameters.get("run_time"),
            "user_classes": parameters.get("user_classes"),
        },
        "generator_peak_cpu": None if peak_cpu is None else round(peak_cpu, 3),
    }


def differences(base: dict | None, new: dict | None) -> list[tuple[str, object, object]]:
    """(field, base value, new value) for every fingerprint field the two runs differ in, in UNFAIR order."""
    found = []
    for path in UNFAIR:
        a, b = _get(base or {}, path), _get(new or {}, path)
        if a != b:
            found.append((path, a, b))
    return found


def busy(fingerprint: dict | None) -> bool:
    """The generator passed GENERATOR_BUSY of a core in some second: its own CPU may be in the latency."""
    peak = (fingerprint or {}).get("generator_peak_cpu")
    return peak is not None and peak > GENERATOR_BUSY


def _get(tree: dict, path: str) -> object:
    node: object = tree
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


@functools.cache
def _versions() -> dict:
    found: dict[str, str | None] = {"python": platform.python_version(), "chanload": __version__}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@functools.cache
def _cpu() -> dict:
    model = platform.machine() or None  # platform.processor() would start `uname -p`; /proc/cpuinfo names the model
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for text in info:
                if text.startswith("model name"):
                    model = text.partition(":")[2].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"count": os.cpu_count(), "usable": usable, "model": model}
