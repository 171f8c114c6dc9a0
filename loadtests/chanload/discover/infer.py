"""What a recorded websocket conversation says about the load: its path, opening steps, payload and replies.

`infer(socket)` reads one websocket entry's frames:
- each send's reply: the frame carrying its id (a field of the send whose values differ and come back in a
  frame), its own text relayed back (a chat: `{mark}` and `own`), or the next frame of a kind that is not pushed;
- the steady pattern: the last run of sends of one kind; the sends before it are opening steps, each with the
  expectation its reply gives;
- the payload: the steady sends with the fields that vary turned into placeholders; the expectation: the fields
  every reply held with the same value (a field one reply alone holds is kept when it is not a number, a hash or
  a timestamp); `--ws-match` from the id; `--ws-other skip` when other frames came among the replies;
- think time from the gaps between a reply and the next send.
A conversation the options cannot say (several kinds of send taking turns, replies that differ as text) keeps
`problem`; `steps` then holds it as Python steps (`chanload.discover.emit.python`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chanload.discover import shape
from chanload.discover.har import BINARY, HarError, Socket
from chanload.discover.shape import Ph, Text

_ID_NAME = re.compile(r"(^|_)id$|(?-i:[a-z]Id)$|^(request_?id|req_?id|ref|nonce|seq|cid|correlation_?id)$", re.I)
_SEGMENT_ID = re.compile(r"\d+|" + shape.UUID.pattern + r"|(?=[0-9a-f]*\d)[0-9a-f]{8,}")
_CHOICE_SAFE = re.compile(r"[^|{}]+")
_REPLY_SEARCH_S = 30.0  # a reply is looked for this long after its send


@dataclass
class Step:
    """One send and what answers it, as option texts: `send` a payload, `expect` an expectation (None: none)."""

    name: str
    send: str
    expect: str | None
    match: str | None = None  # the steady step's --ws-match; opening and Python steps fold it into `expect`


@dataclass
class Plan:
    socket: Socket
    path: str
    groups: str | None
    subprotocols: tuple[str, ...]
    opening: list[Step] = field(default_factory=list)
    steady: Step | None = None  # None: see `problem`
    other: bool = False  # frames came that answered no send: --ws-other skip
    think: str | None = None
    steps: list[Step] = field(default_factory=list)  # the Python locustfile's loop, after `opening_py`
    opening_py: list[Step] = field(default_factory=list)
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Send:
    index: int
    time: float
    value: Any
    kind: Any
    reply: int | None = None  # index into received


def infer(socket: Socket) -> Plan:
    for n, frame in enumerate(socket.frames, 1):
        if frame.opcode == BINARY:
            side = "sent" if frame.sent else "received"
            raise HarError(
                f"{socket.shown}: frame {n} ({side}) is binary (opcode 2): chanload's options send and expect text "
                "frames; load this app from Python, where ws.send(b'...') sends bytes (docs/writing-users.md)"
            )
    path, groups, group = _path(socket)
    plan = Plan(socket, path, groups, socket.subprotocols)
    if socket.extensions:
        plan.notes.append(
            f"the server accepted the extension {socket.extensions!r}; chanload offers none, so the load's frames go"
            " uncompressed (the recording's frames are shown decompressed): the server spends less CPU on them"
        )
    sends = [
        _Send(i, f.time, v := shape.value_of(f.data), shape.kind(v)) for i, f in enumerate(socket.frames) if f.sent
    ]
    received = [(i, f.time, shape.value_of(f.data)) for i, f in enumerate(socket.frames) if not f.sent]
    if not sends:
        raise HarError(
            f"{socket.shown}: the page sent no frame on this websocket ({len(received)} received): a load needs"
            " the messages it sends; record a session in which the page talks to the app"
        )
    ids, relays = _correlate(sends, received)
    _replies(sends, received, ids, relays)
    taken = {s.reply for s in sends}
    plan.other = any(j not in taken for j in range(len(received)))
    ctx = _Ctx(received, ids, relays, group, socket.login.username if socket.login else None)
    _options(plan, sends, ctx)
    _python(plan, sends, ctx)
    return plan


@dataclass
class _Ctx:
    received: list[tuple[int, float, Any]]
    ids: dict[Any, tuple[shape.Path, shape.Path]]  # kind -> (path in the send, path in its reply)
    relays: dict[Any, tuple[shape.Path, shape.Path]]
    group: Any  # the path's id as recorded (an int for digits), or None
    username: str | None


def _path(socket: Socket) -> tuple[str, str | None, Any]:
    segments = socket.path.lstrip("/").split("/")
    found = [i for i, seg in enumerate(segments) if _SEGMENT_ID.fullmatch(seg)]
    if not found:
        return socket.path.lstrip("/"), None, None
    seg = segments[found[-1]]
    segments[found[-1]] = "{group}"
    if seg.isdigit():
        return "/".join(segments), f"{int(seg)}-{int(seg)}", int(seg)
    return "/".join(segments), seg, seg


def _correlate(sends: list[_Send], received) -> tuple[dict, dict]:
    """Per kind of send: the field whose values come back in a frame (send path, reply path), as an id or a relay."""
    ids: dict = {}
    relays: dict = {}
    by_kind: dict[Any, list[_Send]] = {}
    for s in sends:
        by_kind.setdefault(s.kind, []).append(s)
    for kind, group in by_kind.items():
        for path, value in shape.leaves(group[0].value):
            if isinstance(value, bool) or not isinstance(value, int | str) or value == "" or not path:
                continue
            values = [shape.get(s.value, path) for s in group]
            if len(group) > 1 and len(set(map(repr, values))) != len(values):
                continue
            back = [_echo(s, v, path, received) for s, v in zip(group, values, strict=True)]
            paths = {q for q in back if q is not None}
            if None in back or len(paths) != 1:
                continue
            reply_path = paths.pop()
            named = bool(_ID_NAME.search(str(path[-1])))
            if (named or (len(group) > 1 and all(map(shape.is_id_like, values)))) and kind not in ids:
                ids[kind] = (path, reply_path)
            elif len(group) > 1 and isinstance(value, str) and not any(map(shape.is_id_like, values)):
                relays.setdefault(kind, (path, reply_path))
    for kind in ids:
        relays.pop(kind, None)
    return ids, relays


def _echo(send: _Send, value: Any, path: shape.Path, received) -> shape.Path | None:
    """Where the first frame after `send` that carries `value` (same type) carries it: under the send's own key
    if a frame has it there (a push's counter may hold the same number under another name), else anywhere."""
    anywhere = None
    for _, time, frame in received:
        if time < send.time or time > send.time + _REPLY_SEARCH_S or isinstance(frame, Text):
            continue
        hits = [p for p, v in shape.leaves(frame) if v == value and type(v) is type(value)]
        same = [p for p in hits if p and p[-1] == path[-1]]
        if same:
            return same[0]
        anywhere = anywhere or (hits[0] if hits else None)
    return anywhere


def _replies(sends: list[_Send], received, ids: dict, relays: dict) -> None:
    taken: set[int] = set()
    for s in sends:
        pq = ids.get(s.kind) or relays.get(s.kind)
        if pq is None:
            continue
        want = shape.get(s.value, pq[0])
        for j, (index, _, frame) in enumerate(received):
            if index > s.index and j not in taken and shape.get(frame, pq[1]) == want:
                s.reply = j
                taken.add(j)
                break
    # Pushed kinds: received before the first send, more often than there were sends, or twice between two sends.
    counts = Counter(shape.kind(frame) for j, (_, _, frame) in enumerate(received) if j not in taken)
    pushed = {k for k, n in counts.items() if n > len(sends)}
    bounds = [s.index for s in sends] + [len(received) + len(sends) + 1]
    for low, high in zip([-1, *bounds], bounds, strict=False):
        between = Counter(shape.kind(f) for j, (i, _, f) in enumerate(received) if low < i < high and j not in taken)
        pushed |= {k for k, n in between.items() if n > 1 or low == -1}
    # The rest: the frames before the next send, not pushed; of those, the kind that came after most sends of
    # this kind (a tick that happened to come first once is not the reply).
    windows: dict[int, list[int]] = {}
    for n, s in enumerate(sends):
        if s.reply is None and s.kind not in ids and s.kind not in relays:
            until = sends[n + 1].index if n + 1 < len(sends) else len(received) + len(sends) + 1
            windows[n] = [j for j, (i, _, f) in enumerate(received) if s.index < i < until and j not in taken
                          and shape.kind(f) not in pushed]  # fmt: skip
    votes: dict[Any, Counter] = {}
    for n, window in windows.items():
        votes.setdefault(sends[n].kind, Counter()).update({repr(shape.kind(received[j][2])) for j in window})
    total = Counter(repr(shape.kind(f)) for _, _, f in received)  # a tie goes to the kind not seen more than asked
    for n, window in windows.items():
        kind, asked = sends[n].kind, sum(s.kind == sends[n].kind for s in sends)
        best = max(votes[kind], key=lambda k: (votes[kind][k], -max(0, total[k] - asked)), default=None)
        sends[n].reply = next((j for j in window if repr(shape.kind(received[j][2])) == best), None)


def _options(plan: Plan, sends: list[_Send], ctx: _Ctx) -> None:
    last = sends[-1].kind
    start = len(sends)
    while start > 0 and sends[start - 1].kind == last:
        start -= 1
    run = sends[start:]
    exclude = {ctx.ids.get(last, ((),))[0], ctx.relays.get(last, ((),))[0]}
    while len(run) >= 3 and _outlier(run, exclude):
        run = run[1:]
    opening = sends[: len(sends) - len(run)]
    kinds = [s.kind for s in sends[:start]]
    if last in kinds or len(set(map(repr, kinds))) != len(kinds):
        names = ", ".join(dict.fromkeys(shape.name_of(s.value) or shape.short(s.value) for s in sends))
        plan.problem = (
            f"the page sent several kinds of message taking turns ({names}), not opening steps then one repeated"
            " message: options say one repeated message"
        )
        return
    used: set[str] = set()
    for n, s in enumerate(opening, 1):
        step = _step([s], ctx, shape.unique(shape.name_of(s.value) or f"open{n}", used), fold=True)
        if step is None:
            plan.problem = plan.problem or f"opening step {n} ({shape.short(s.value)}) cannot be written as an option"
            return
        plan.opening.append(step)
    steady = _step(run, ctx, plan.path, fold=False)
    if steady is None or steady.expect is None:
        what = "got no reply" if steady is not None else "differ in ways a template cannot say"
        plan.problem = f"the repeated message ({shape.short(run[-1].value)}) {what}"
        return
    plan.steady = steady
    plan.think = _think(run, ctx)
    if plan.think is None:
        plan.notes.append("one repeated message only: no gap to take the think time from (--ws-think's default)")


def _think(run: list[_Send], ctx: _Ctx) -> str | None:
    """The gaps between a reply and the next send, in seconds: `LOW-HIGH`, or `X`."""
    gaps = [
        run[n + 1].time - ctx.received[s.reply][1]
        for n, s in enumerate(run[:-1])
        if s.reply is not None and run[n + 1].time >= ctx.received[s.reply][1]
    ]
    if not gaps:
        return None
    low, high = round(min(gaps), 2), round(max(gaps), 2)
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def _outlier(run: list[_Send], exclude: set) -> bool:
    """The run's first send differs, in a field, from the rest, which all agree on it: an opening step."""
    for path, value in shape.leaves(run[0].value):
        if path in exclude:
            continue
        rest = {repr(shape.get(s.value, path)) for s in run[1:]}
        if len(rest) == 1 and repr(value) not in rest:
            return True
    return False


def _python(plan: Plan, sends: list[_Send], ctx: _Ctx) -> None:
    """The loop a WsUser runs: the sends whose kind never comes again open it, then one step per kind, in turn."""
    cut = 0
    while cut < len(sends) and all(s.kind != sends[cut].kind for s in sends[cut + 1 :]):
        cut += 1
    if cut == len(sends):  # every kind once: the last is the loop
        cut -= 1
    used: set[str] = set()
    for n, s in enumerate(sends[:cut], 1):
        step = _step([s], ctx, shape.unique(shape.name_of(s.value) or f"open{n}", used), fold=True)
        if step is not None:
            plan.opening_py.append(step)
    plan.think = plan.think or _think(sends[cut:], ctx)
    by_kind: dict[Any, list[_Send]] = {}
    for s in sends[cut:]:
        by_kind.setdefault(s.kind, []).append(s)
    for n, group in enumerate(by_kind.values(), 1):
        step = _step(group, ctx, shape.unique(shape.name_of(group[0].value) or f"message{n}", used), fold=True)
        if step is not None:
            plan.steps.append(step)


def _step(group: list[_Send], ctx: _Ctx, name: str, *, fold: bool) -> Step | None:
    """The sends of one kind as a payload template, and their replies as an expectation (None: not writable)."""
    kind = group[-1].kind
    id_pq, relay_pq = ctx.ids.get(kind), ctx.relays.get(kind)
    values = [s.value for s in group]
    if isinstance(values[-1], Text):
        if len({v.text for v in values}) != 1:
            return None
        payload = values[-1].text
    else:
        payload = shape.render(_template(values, id_pq, relay_pq, ctx))
    replies = [ctx.received[s.reply][2] for s in group if s.reply is not None]
    if relay_pq is not None and len(replies) == len(group):
        return Step(name, payload, "own")
    if not replies or len(replies) < len(group):
        return Step(name, payload, None) if fold and not replies else None
    if isinstance(replies[0], Text) or any(isinstance(r, Text) for r in replies):
        texts = {r.text if isinstance(r, Text) else None for r in replies}
        if len(texts) != 1 or None in texts:
            return None
        text = texts.pop() or ""
        return Step(name, payload, ("re:" + re.escape(text)) if shape.taken_as_form(text) else text)
    stable = _stable(replies, ctx)
    match: list = []
    if id_pq is not None:
        seq = ctx.received[group[-1].reply][2] if group[-1].reply is not None else None
        recorded = shape.get(seq, id_pq[1])
        match = [(id_pq[1], shape.seq(recorded, len(group)))]
        match += [(p, v) for p, v in stable if len(p) == 1 and p[0] in shape.DISCRIMINATORS]
        stable = [(p, v) for p, v in stable if (p, v) not in match and p != id_pq[1]]
    if fold or not match:
        items = match + stable
        return Step(name, payload, "json:" + shape.render(shape.build(items, replies[0])) if items else None)
    expect_items = stable or match
    return Step(
        name,
        payload,
        "json:" + shape.render(shape.build(expect_items, replies[0])),
        "json:" + shape.render(shape.build(match, replies[0])),
    )


def _template(values: list[Any], id_pq, relay_pq, ctx: _Ctx) -> Any:
    template = values[-1]
    for path, value in shape.leaves(values[-1]):
        seen = [shape.get(v, path) for v in values]
        if id_pq is not None and path == id_pq[0]:
            new: Any = shape.seq(value, len(values))
        elif relay_pq is not None and path == relay_pq[0]:
            new = Ph("mark", False)
        elif len({repr(v) for v in seen}) == 1:
            new = _known(value, ctx)
        else:
            new = _varying(seen, value)
        template = shape.replace(template, path, new)
    return template


def _known(value: Any, ctx: _Ctx) -> Any:
    """A recorded value that is the path's room or the account's name, as its placeholder."""
    if ctx.group is not None and value == ctx.group and type(value) is type(ctx.group) and value != "":
        return Ph("group", isinstance(value, int))
    if isinstance(ctx.group, int) and isinstance(value, str) and value == str(ctx.group):
        return Ph("group", False)
    if ctx.username and value == ctx.username:
        return Ph("username", False)
    return value


def _varying(seen: list[Any], last: Any) -> Any:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
        return Ph(f"random:{min(seen)}-{max(seen)}", True)
    if all(isinstance(v, str) and shape.UUID.fullmatch(v) for v in seen):
        return Ph("uuid", False)
    if all(isinstance(v, bool) for v in seen):
        return Ph("choice:true|false", True)
    if all(isinstance(v, str) and _CHOICE_SAFE.fullmatch(v) and v == v.strip() for v in seen):
        return Ph("choice:" + "|".join(dict.fromkeys(seen)), False)
    return last


def _stable(replies: list[Any], ctx: _Ctx) -> list[tuple[shape.Path, Any]]:
    """The leaves every reply holds with one value (one reply: those that are not volatile), placeholders in."""
    items = []
    for path, value in shape.leaves(replies[0]):
        if not path:
            continue
        if len(replies) == 1:
            if shape.volatile(value) and _known(value, ctx) == value:
                continue
            if isinstance(value, list) and value:
                continue
        elif any(repr(shape.get(r, path)) != repr(value) for r in replies[1:]):
            continue
        items.append((path, _known(value, ctx)))
    return items
