"""The samplers behind --watch NAME=PID and --watch-redis URL: one sample per call, never an exception.

`ProcessWatch` reads a local process and its descendants with psutil; `RedisWatch` reads Redis INFO and walks a
channels_redis layer's keys with a bounded SCAN. Each `sample(second)` returns one flat dict for
`chanload.recording.resources` (see there for what `second` covers); the plugin calls them once a second, in a
greenlet of the master or the local process. `open_watches` opens them before any load and raises OptionError
(exit code 2) for a PID that is not running or a Redis that does not answer.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import struct
import time
from typing import TYPE_CHECKING

import psutil

from chanload.exceptions import OptionError
from chanload.run.settings import Settings

if TYPE_CHECKING:
    import redis

log = logging.getLogger("chanload")

# SCAN's budget: keys Redis examines per second (SCAN's COUNT summed over one sample). Each SCAN step is
# O(COUNT) for Redis, each layer key found costs one ZCARD (O(1)); a keyspace larger than the budget is
# walked over several seconds, and the layer's figures are those of the last complete walk.
SCAN_BUDGET = 1000
SCAN_COUNT = 250  # keys per SCAN step: 4 steps a second at most
TCP_BUDGET = 0.005  # CPU seconds a second that counting established TCP sockets may take (half a percent of a core)
SAMPLE_OFFSET = 0.05  # seconds after the second turns that the samples are taken (the 1 s ticker runs at the turn)
REDIS_TIMEOUT = 0.5  # seconds a Redis read may take before that second is recorded unavailable


class ProcessWatch:
    """A local process and its descendants, summed: CPU, RSS, file descriptors, threads, established TCP.

    - `cpu`: CPU seconds (user + system) the tree used per wall second: a share of one core (2.0 = two cores
      busy); `cpu_of_cores` divides it by `cores`, the CPUs the process's affinity allows (a cgroup quota is
      not read). A descendant born during the second counts from its start; one that ended during it loses its
      last second. `cpu_busiest`: the busiest single process's share of one core (one Python process is
      saturated at 1.0, however many cores the machine has).
    - `rss_bytes`: resident memory summed over the tree (pages shared between processes count once per process).
    - `fds`: open file descriptors summed; `fd_ratio`: the largest share any one process holds of its own soft
      RLIMIT_NOFILE (`fd_limit` is the watched process's). 1.0 means accept() starts failing with EMFILE.
    - `threads`; `processes`, the tree's size.
    - `tcp_established`: the tree's sockets in ESTABLISHED, both directions, each socket once. Counting walks
      the kernel's TCP table (sock_diag, ESTABLISHED only) and reads each descendant's descriptors: that cost
      about 2.7 ms, plus 4 us per socket, where it was measured, so it is done every second while it costs under
      TCP_BUDGET, and every few seconds beyond (the seconds between carry no `tcp_established`).

    Descendants are found from /proc/PID/task/*/children: psutil's children() reads every process on the
    machine. When the process is gone (or a zombie), the sample is `{"second": S, "exited": true}`.
    """

    group = "processes"

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.pid = pid
        try:
            self.root = psutil.Process(pid)
            if self.root.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(pid)  # it has exited; only its parent has not collected it yet
            self.cores = len(self.root.cpu_affinity() or []) or psutil.cpu_count() or 1
            self.fd_limit = _fd_limit(self.root)
            # sock_diag answers for this process's network namespace: another one's is read from /proc/PID/net.
            self._own_netns = _netns(pid) == _netns(os.getpid())
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            raise OptionError(
                f"--watch {name}={pid}: no process {pid} is running; give the PID of a process on this machine "
                f"(e.g. pgrep -f daphne)"
            ) from None
        except (psutil.AccessDenied, PermissionError):
            raise OptionError(
                f"--watch {name}={pid}: process {pid} belongs to another user and cannot be read; run chanload "
                "as that user"
            ) from None
        self._procs: dict[int, psutil.Process] = {pid: self.root}
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds at the last sample
        self._limits: dict[int, int | None] = {pid: self.fd_limit}
        self._tcp_due = 0  # the second from which TCP is counted again
        self._wall, self._stamp = time.monotonic(), time.time()
        self._read(second=0)  # the baseline the first sample's CPU is measured from

    @property
    def info(self) -> dict:
        return {"pid": self.pid, "cores": self.cores, "fd_limit": self.fd_limit}

    def _tree(self) -> list[psutil.Process] | None:
        try:
            if self.root.status() == psutil.STATUS_ZOMBIE:
                return None
            pids = [self.pid, *_descendants(self.pid)]
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            return None
        procs = {}
        for pid in pids:
            proc = self._procs.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except psutil.NoSuchProcess:
                    continue
            procs[pid] = proc
        self._procs = procs
        return list(procs.values())

    def _read(self, second: int, since: float | None = None) -> dict | None:
        """Sums over the tree now; CPU as seconds used since the last read (`since`: that read's time.time())."""
        tree = self._tree()
        if tree is None:
            return None
        cpu_seconds, busiest, rss, fds, threads, ratio = 0.0, 0.0, 0, 0, 0, 0.0
        seen: dict[int, float] = {}
        for proc in tree:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    used = times.user + times.system
                    before = self._cpu.get(proc.pid)
                    own = None
                    if before is not None:
                        own = used - before
                    elif since is not None and proc.create_time() >= since:
                        own = used  # born during this second
                    if own is not None:
                        cpu_seconds += own
                        busiest = max(busiest, own)
                    rss += proc.memory_info().rss
                    threads += proc.num_threads()
                n = proc.num_fds()
                fds += n
                if proc.pid not in self._limits:
                    self._limits[proc.pid] = _fd_limit(proc)
                limit = self._limits[proc.pid]
                if limit:
                    ratio = max(ratio, n / limit)
                seen[proc.pid] = used
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                if proc.pid == self.pid:
                    return None
            except psutil.AccessDenied:
                continue  # a descendant that changed user: left out
        self._cpu = seen
        self._limits = {pid: limit for pid, limit in self._limits.items() if pid in seen}
        read: dict = {
            "cpu_seconds": cpu_seconds,
            "busiest_seconds": busiest,
            "rss_bytes": rss,
            "fds": fds,
            "fd_ratio": round(ratio, 4),
            "threads": threads,
            "processes": len(seen),
        }
        if second >= self._tcp_due:
            began = time.thread_time()
            read["tcp_established"] = self._established(list(seen))
            cost = time.thread_time() - began
            self._tcp_due = second + max(1, math.ceil(cost / TCP_BUDGET))
        return read

    def _established(self, pids: list[int]) -> int:
        inodes = set()
        for pid in pids:
            inodes |= _socket_inodes(pid)
        if not inodes:
            return 0
        if self._own_netns:
            try:
                return len(inodes & _established_inodes())
            except OSError as exc:  # no sock_diag here (a sandbox): the text tables from now on
                log.info("chanload: --watch %s: sock_diag unavailable (%s); reading /proc/PID/net/tcp", self.name, exc)
                self._own_netns = False
        return len(inodes & _established_from_proc(self.pid))

    def sample(self, second: int) -> dict:
        wall, stamp = time.monotonic(), time.time()
        read = self._read(second, since=self._stamp)
        if read is None:
            return {"second": second, "exited": True}
        elapsed, self._wall, self._stamp = wall - self._wall, wall, stamp
        cpu = read.pop("cpu_seconds") / elapsed if elapsed > 0 else 0.0
        busiest = read.pop("busiest_seconds") / elapsed if elapsed > 0 else 0.0
        return {"second": second, "cpu": round(cpu, 4), "cpu_of_cores": round(cpu / self.cores, 4),
                "cpu_busiest": round(busiest, 4), **read}  # fmt: skip


def _fd_limit(process: psutil.Process) -> int | None:
    soft, _hard = process.rlimit(psutil.RLIMIT_NOFILE)
    return None if soft == psutil.RLIM_INFINITY else int(soft)


def _netns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _descendants(pid: int) -> list[int]:
    """Every descendant's PID, from each thread's /proc/PID/task/TID/children (Linux 3.5+)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            if parent == pid:
                raise
            continue  # a child that ended meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    children = [int(c) for c in f.read().split()]
            except FileNotFoundError:
                continue
            found += children
            todo += children
    return found


def _socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets among a process's descriptors."""
    inodes = set()
    try:
        with os.scandir(f"/proc/{pid}/fd") as entries:
            for entry in entries:
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    continue  # closed meanwhile
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    except (FileNotFoundError, PermissionError):
        pass
    return inodes


# sock_diag (linux/inet_diag.h): one dump request per address family, for TCP sockets in ESTABLISHED only.
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP = 4, 20, 0x301
_NLMSG_ERROR, _NLMSG_DONE, _TCP_ESTABLISHED = 2, 3, 1
_INODE_AT = 16 + 68  # nlmsghdr, then inet_diag_msg's idiag_inode


def _established_inodes() -> set[int]:
    """The inodes of every ESTABLISHED TCP socket in this network namespace, IPv4 and IPv6 (what `ss -t` lists)."""
    found: set[int] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            request = struct.pack("=BBBxI48x", family, socket.IPPROTO_TCP, 0, 1 << _TCP_ESTABLISHED)
            header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, seq, 0)
            nl.send(header + request)
            done = False
            while not done:
                data, at = nl.recv(1 << 16), 0
                while at + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, at)
                    if kind == _NLMSG_DONE:
                        done = True
                        break
                    if kind == _NLMSG_ERROR:
                        if family == socket.AF_INET6:  # no IPv6 here (ipv6.disable=1): no IPv6 sockets either
                            done = True
                            break
                        raise OSError("sock_diag refused the dump")
                    found.add(struct.unpack_from("=I", data, at + _INODE_AT)[0])
                    at += (length + 3) & ~3
    return found


_ESTABLISHED_ROW = re.compile(rb"^ *\d+: \S+ \S+ 01 \S+ \S+ \S+ +\d+ +\d+ (\d+)", re.M)


def _established_from_proc(pid: int) -> set[int]:
    """The same from /proc/PID/net/tcp and tcp6: the process's own network namespace (a container's)."""
    found: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}", "rb") as table:
                found.update(int(inode) for inode in _ESTABLISHED_ROW.findall(table.read()))
        except FileNotFoundError:
            continue
    return found


class RedisWatch:
    """Redis INFO, and a channels_redis layer's queues and groups, once a second.

    From INFO (one a second, its default sections): `ops_per_second`, commands Redis processed per
    second (`total_commands_processed`'s rise, less this watcher's own commands); `used_memory_bytes` and
    `maxmemory_bytes` (0: no limit); `connected_clients` (this watcher's one connection included); `cpu`,
    Redis's CPU (`used_cpu_sys` + `used_cpu_user`) per wall second, as a share of one core.

    The layer, as channels_redis 4.3 (`channels_redis/core.py`, RedisChannelLayer) keeps it, `prefix` its
    `prefix` (default "asgi"):

    - a channel's queue is the sorted set `{prefix}{channel}`, one member per message (`send`: ZADD with the
      time as score); a process-specific channel `specific.ID!xyz` shares its process's key
      `{prefix}specific.ID!` (`non_local_name`). `send` raises ChannelFull when `ZCOUNT key -inf +inf` reaches
      the capacity (`capacity`, default 100, or a `channel_capacity` pattern's, not read here); `group_send`
      then drops the message for that channel.
    - `{queue}$inflight` holds the messages a consumer has popped and not yet cleaned up (`_brpop_with_clean`).
    - a group is the sorted set `{prefix}:group:{name}` (`_group_key`), one member per channel in it.

    Its figures: `queued_total` (messages in every queue), `queued_max` and `queue_fullest` (the fullest
    queue's count and key), `queued_max_ratio` (queued_max over `capacity`), `queues`, `inflight`, `groups`,
    `group_members_total`, `group_members_max`. Each step of the walk is one Lua script (_STEP, by EVALSHA):
    `SCAN cursor MATCH {prefix}* COUNT n TYPE zset`, a ZCARD of each key found, and only the sums come back,
    so neither side handles a reply per key. At most SCAN_BUDGET keys are examined a second: `scan_seconds` is
    how many seconds the walk the figures come from took (1 while the keyspace fits the budget), `scan_keys`
    how many keys Redis examined for it (a key SCAN returns twice, while Redis resizes its table, counts
    twice in that walk). A second Redis does not answer is `{"available": false, "error": ...}`.
    """

    group = "redis"

    def __init__(self, url: str, prefix: str, capacity: int) -> None:
        import redis  # here: importing it takes 0.1 s, which a run without --watch-redis does not pay

        self.errors = redis.RedisError
        self.name = "redis"
        self.url = url
        self.prefix = prefix
        self.capacity = capacity
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, health_check_interval=0
        )
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise OptionError(
                f"--watch-redis {_safe(url)}: Redis does not answer ({exc}); check the URL "
                "(redis://HOST:PORT/DB) and that Redis runs"
            ) from None
        try:
            self._sha = self.client.script_load(_STEP)
            self._info = self._read_info()
        except redis.RedisError as exc:
            raise OptionError(
                f"--watch-redis {_safe(url)}: Redis refused SCRIPT LOAD or INFO ({exc}); the watch needs INFO, and"
                " EVALSHA for its SCAN steps (Redis 6.0 or later; an ACL user with @scripting and @read)"
            ) from None
        self._wall = time.monotonic()
        self._own = 1  # commands of ours since the last INFO: that INFO itself
        self._cursor = 0
        self._walk = _Walk()
        self._layer: dict = {}  # the last complete walk's figures
        self._match = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"  # the prefix taken literally
        self._no_script = redis.exceptions.NoScriptError

    @property
    def info(self) -> dict:
        return {"url": _safe(self.url), "prefix": self.prefix, "capacity": self.capacity, "scan_budget": SCAN_BUDGET}

    def _read_info(self) -> dict:
        return self.client.info()  # the default sections: Redis 6 takes no list of sections

    def sample(self, second: int) -> dict:
        try:
            info = self._read_info()
            wall = time.monotonic()
            elapsed = wall - self._wall
            ops = info["total_commands_processed"] - self._info["total_commands_processed"] - self._own
            cpu = _cpu(info) - _cpu(self._info)
            self._info, self._wall, self._own = info, wall, 1
            self._scan()
        except self.errors as exc:
            self._own = 1
            return {"second": second, "available": False, "error": str(exc) or type(exc).__name__}
        return {
            "second": second,
            "available": True,
            "ops_per_second": round(max(ops, 0) / elapsed, 1) if elapsed > 0 else 0.0,
            "used_memory_bytes": info["used_memory"],
            "maxmemory_bytes": info.get("maxmemory", 0),
            "connected_clients": info["connected_clients"],
            "cpu": round(max(cpu, 0.0) / elapsed, 4) if elapsed > 0 else 0.0,  # a restarted Redis starts again at 0
            **self._layer,
        }

    def _scan(self) -> None:
        """Walk on for at most SCAN_BUDGET keys; publish the walk's figures once it is complete."""
        examined = 0
        while examined < SCAN_BUDGET:
            count = min(SCAN_COUNT, SCAN_BUDGET - examined)
            args = (self._cursor, self._match, count, f"{self.prefix}:group:")
            try:
                step = self.client.evalsha(self._sha, 0, *args)
            except self._no_script:  # Redis restarted, or SCRIPT FLUSH: load it again
                self._sha = self.client.script_load(_STEP)
                step = self.client.evalsha(self._sha, 0, *args)
                self._own += 1
            self._own += 2 + int(step[1])  # the EVALSHA, and the SCAN and each ZCARD it made
            self._cursor = int(step[0])
            self._walk.add(step[2:])
            examined += count
            if self._cursor == 0:
                break
        self._walk.seconds += 1
        self._walk.examined += examined
        if self._cursor == 0:
            self._layer = self._walk.figures(self.capacity)
            self._walk = _Walk()


# One step of the layer's walk, in Redis: ARGV cursor, MATCH pattern, COUNT, the group keys' prefix. Returns the
# next cursor, the keys found, then queued, queues, inflight, groups, members, largest group, fullest queue's
# count and key (nil when no queue holds a message).
_STEP = """
local found = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3], 'TYPE', 'zset')
local queued, queues, inflight, groups, members, largest, fullest, fullest_key = 0, 0, 0, 0, 0, 0, 0, false
for _, key in ipairs(found[2]) do
    local n = redis.call('ZCARD', key)
    if string.sub(key, 1, #ARGV[4]) == ARGV[4] then
        groups, members = groups + 1, members + n
        if n > largest then largest = n end
    elseif string.sub(key, -9) == '$inflight' then
        inflight = inflight + n
    else
        queues, queued = queues + 1, queued + n
        if n > fullest then fullest, fullest_key = n, key end
    end
end
return {found[1], #found[2], queued, queues, inflight, groups, members, largest, fullest, fullest_key}
"""


class _Walk:
    """One SCAN walk over the layer's keys, in progress: the steps' sums."""

    def __init__(self) -> None:
        self.queued = self.queues = self.inflight = self.groups = self.members = self.members_max = 0
        self.fullest: tuple[int, str | None] = (0, None)
        self.seconds = self.examined = 0

    def add(self, step: list) -> None:
        """One step's figures, as _STEP returns them after the cursor and the keys found."""
        queued, queues, inflight, groups, members, largest, fullest = (int(n) for n in step[:7])
        self.queued += queued
        self.queues += queues
        self.inflight += inflight
        self.groups += groups
        self.members += members
        self.members_max = max(self.members_max, largest)
        if fullest > self.fullest[0]:
            key = step[7] if len(step) > 7 else None  # Redis ends a reply at its first nil
            self.fullest = (fullest, key.decode(errors="replace") if isinstance(key, bytes) else key)

    def figures(self, capacity: int) -> dict:
        return {
            "queued_total": self.queued,
            "queued_max": self.fullest[0],
            "queue_fullest": self.fullest[1],
            "queued_max_ratio": round(self.fullest[0] / capacity, 4),
            "queues": self.queues,
            "inflight": self.inflight,
            "groups": self.groups,
            "group_members_total": self.members,
            "group_members_max": self.members_max,
            "scan_seconds": self.seconds,
            "scan_keys": self.examined,
        }


def _cpu(info: dict) -> float:
    return float(info.get("used_cpu_sys", 0.0)) + float(info.get("used_cpu_user", 0.0))


def _safe(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user = auth.partition(":")[0]
    return f"{scheme}{sep}{user + ':***@' if user else '***@'}{host}"


Watch = ProcessWatch | RedisWatch


def open_watches(settings: Settings) -> list[Watch]:
    """The samplers the options ask for, opened now (before any load); OptionError if one cannot be."""
    watches: list[Watch] = [ProcessWatch(name, pid) for name, pid in settings.watch]
    if settings.watch_redis:
        watches.append(RedisWatch(settings.watch_redis, settings.watch_redis_prefix, settings.watch_redis_capacity))
    return watches


def sample(watch: Watch, second: int) -> dict:
    """One sample; a sampler that fails in a way it does not expect records the second as unavailable."""
    try:
        return watch.sample(second)
    except Exception as exc:  # watching must never break the run
        log.warning("chanload: --watch %s: sampling failed (%s); that second is recorded unavailable", watch.name, exc)
        return {"second": second, "available": False, "error": str(exc) or type(exc).__name__}
