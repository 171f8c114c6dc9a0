"""--watch NAME=PID: a local process and its descendants, sampled once a second with psutil and the kernel's TCP table.

`chanload.watch.resources` opens it (and raises OptionError for a PID that is not running) and samples it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import struct
import time

import psutil

from chanload.exceptions import OptionError

log = logging.getLogger("chanload")

TCP_BUDGET = 0.005  # CPU seconds a second that counting established TCP sockets may take (half a percent of a core)


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
