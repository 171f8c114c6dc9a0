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

from typing import TYPE_CHECKING

from chanload import lazy

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

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # for type checkers: each name of _EXPORTS from its module (`as`: a re-export, PEP 484)
    from chanload.pytest.crowd import Crowd as Crowd
    from chanload.pytest.crowd import Member as Member
    from chanload.pytest.crowd import MemberResult as MemberResult
    from chanload.pytest.crowd import SessionFactory as SessionFactory
    from chanload.pytest.load import LoadResult as LoadResult
    from chanload.pytest.load import Row as Row
    from chanload.pytest.server import LiveServer as LiveServer
    from chanload.pytest.session import BehaviourSession as BehaviourSession


__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS, globals())
