"""The pytest side: chanload's pytest plugin and what its fixtures hand out (no Locust in the pytest process).

Its modules: `plugin` (the `pytest11` entry point: options, `channels_live_server`, `ws`, `ws_factory`),
`load` (`chanload_load`, Locust in a subprocess only), `server` (`LiveServer`, the server subprocess),
`launcher` (`python -m chanload.pytest.launcher`: that server, on the test database, dying with its parent),
`database` (pytest-django's test database for the server), `session` (`BehaviourSession`: reads in a thread,
explains a failed step) and `crowd` (`ws_factory.run`: `Crowd`, `MemberResult`).

The types the fixtures hand out are importable from here, for annotations::

    from chanload.pytest import BehaviourSession, Crowd, LiveServer, LoadResult, MemberResult, SessionFactory

Each name imports its module on first use: importing the package alone imports neither pytest nor a session.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BehaviourSession": "chanload.pytest.session",
    "SessionFactory": "chanload.pytest.crowd",
    "Member": "chanload.pytest.crowd",
    "MemberResult": "chanload.pytest.crowd",
    "Crowd": "chanload.pytest.crowd",
    "LiveServer": "chanload.pytest.server",
    "LoadResult": "chanload.pytest.load",
    "Row": "chanload.pytest.load",
}

__all__ = ["BehaviourSession", "Crowd", "LiveServer", "LoadResult", "Member", "MemberResult", "Row", "SessionFactory"]

if TYPE_CHECKING:
    from chanload.pytest.crowd import Crowd, Member, MemberResult, SessionFactory
    from chanload.pytest.load import LoadResult, Row
    from chanload.pytest.server import LiveServer
    from chanload.pytest.session import BehaviourSession


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chanload.pytest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
