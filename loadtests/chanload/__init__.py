"""chanload: load and behaviour testing of Django Channels websocket endpoints, on Locust.

The public face. A locustfile needs one import::

    from chanload import WsUser

and gets the `--ws-*` options, recording, thresholds and artifacts with it. `import chanload` alone
imports no Locust (which monkey-patches the process with gevent): the user classes, and the Locust
wiring with them, load on first use of their names. Everything else here is Locust-free.

Layers, top to bottom (each imports only the ones below it; `make lint` checks):
`locust` (the Locust wiring), `reporting` | `watch`, `run`, `conversation`, `recording`, `wire`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it. Locust-bound names are in chanload.locust; the rest are not.
_EXPORTS = {
    # Locust users (importing them wires chanload into Locust's events)
    "WsUser": "chanload.locust.users",
    "ChannelsUser": "chanload.locust.users",
    "EchoUser": "chanload.locust.users",
    "BroadcastUser": "chanload.locust.users",
    "CapacityShape": "chanload.locust.shapes",
    # The conversation: usable with no Locust runner
    "Session": "chanload.conversation.session",
    "TracingSession": "chanload.conversation.trace",
    "Recording": "chanload.conversation.recording",
    "Payload": "chanload.conversation.messages",
    "Expect": "chanload.conversation.messages",
    "Groups": "chanload.conversation.groups",
    "ThinkTime": "chanload.conversation.pacing",
    "Schedule": "chanload.conversation.pacing",
    "Settings": "chanload.run.settings",
    # Errors (chanload.exceptions)
    "ChanloadError": "chanload.exceptions",
    "OptionError": "chanload.exceptions",
    "NotSetUp": "chanload.exceptions",
    "ProtocolError": "chanload.exceptions",
    "WsError": "chanload.exceptions",
    "ConnectionRefused": "chanload.exceptions",
    "HandshakeRejected": "chanload.exceptions",
    "HandshakeTimeout": "chanload.exceptions",
    "CertificateRejected": "chanload.exceptions",
    "SubprotocolRejected": "chanload.exceptions",
    "ReplyTimeout": "chanload.exceptions",
    "WrongReply": "chanload.exceptions",
    "ClosedByServer": "chanload.exceptions",
    "MessageTooBig": "chanload.exceptions",
    "ConnectionLost": "chanload.exceptions",
    "StepError": "chanload.exceptions",
    "LoginRefused": "chanload.exceptions",
}

__all__ = [
    "__version__",
    "WsUser",
    "ChannelsUser",
    "EchoUser",
    "BroadcastUser",
    "CapacityShape",
    "Session",
    "TracingSession",
    "Recording",
    "Payload",
    "Expect",
    "Groups",
    "ThinkTime",
    "Schedule",
    "Settings",
    "ChanloadError",
    "OptionError",
    "NotSetUp",
    "ProtocolError",
    "WsError",
    "ConnectionRefused",
    "HandshakeRejected",
    "HandshakeTimeout",
    "CertificateRejected",
    "SubprotocolRejected",
    "ReplyTimeout",
    "WrongReply",
    "ClosedByServer",
    "MessageTooBig",
    "ConnectionLost",
    "StepError",
    "LoginRefused",
]

if TYPE_CHECKING:
    from chanload.conversation.groups import Groups
    from chanload.conversation.messages import Expect, Payload
    from chanload.conversation.pacing import Schedule, ThinkTime
    from chanload.conversation.recording import Recording
    from chanload.conversation.session import Session
    from chanload.conversation.trace import TracingSession
    from chanload.exceptions import (
        CertificateRejected,
        ChanloadError,
        ClosedByServer,
        ConnectionLost,
        ConnectionRefused,
        HandshakeRejected,
        HandshakeTimeout,
        LoginRefused,
        MessageTooBig,
        NotSetUp,
        OptionError,
        ProtocolError,
        ReplyTimeout,
        StepError,
        SubprotocolRejected,
        WrongReply,
        WsError,
    )
    from chanload.locust.shapes import CapacityShape
    from chanload.locust.users import BroadcastUser, ChannelsUser, EchoUser, WsUser
    from chanload.run.settings import Settings


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use (PEP 562), so that `import chanload` stays cheap."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chanload' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
