"""--watch-redis URL: Redis INFO and a channels_redis layer's queues and groups, with a bounded SCAN, once a second.

`chanload.watch.resources` opens it (and raises OptionError for a Redis that does not answer) and samples it.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from chanload.exceptions import OptionError

if TYPE_CHECKING:
    import redis

# SCAN's budget: keys Redis examines per second (SCAN's COUNT summed over one sample). Each SCAN step is
# O(COUNT) for Redis, each layer key found costs one ZCARD (O(1)); a keyspace larger than the budget is
# walked over several seconds, and the layer's figures are those of the last complete walk.
SCAN_BUDGET = 1000
SCAN_COUNT = 250  # keys per SCAN step: 4 steps a second at most
REDIS_TIMEOUT = 0.5  # seconds a Redis read may take before that second is recorded unavailable


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
