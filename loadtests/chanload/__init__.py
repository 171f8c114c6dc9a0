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

from typing import TYPE_CHECKING

from chanload import lazy

# name -> the module that defines it: the one list. `__all__` is derived from it, and the imports below name the same
# modules for type checkers (tests/test_public.py checks that they agree). Locust-bound names are in
# chanload.locust; the rest are not.
_EXPORTS = {
    "__version__": "chanload.version",
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
    "Payload": "chanload.conversation.payload",
    "Expect": "chanload.conversation.expect",
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

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # for type checkers: each name of _EXPORTS from its module (`as`: a re-export, PEP 484)
    from chanload.conversation.expect import Expect as Expect
    from chanload.conversation.groups import Groups as Groups
    from chanload.conversation.pacing import Schedule as Schedule
    from chanload.conversation.pacing import ThinkTime as ThinkTime
    from chanload.conversation.payload import Payload as Payload
    from chanload.conversation.recording import Recording as Recording
    from chanload.conversation.session import Session as Session
    from chanload.conversation.trace import TracingSession as TracingSession
    from chanload.exceptions import CertificateRejected as CertificateRejected
    from chanload.exceptions import ChanloadError as ChanloadError
    from chanload.exceptions import ClosedByServer as ClosedByServer
    from chanload.exceptions import ConnectionLost as ConnectionLost
    from chanload.exceptions import ConnectionRefused as ConnectionRefused
    from chanload.exceptions import HandshakeRejected as HandshakeRejected
    from chanload.exceptions import HandshakeTimeout as HandshakeTimeout
    from chanload.exceptions import LoginRefused as LoginRefused
    from chanload.exceptions import MessageTooBig as MessageTooBig
    from chanload.exceptions import NotSetUp as NotSetUp
    from chanload.exceptions import OptionError as OptionError
    from chanload.exceptions import ProtocolError as ProtocolError
    from chanload.exceptions import ReplyTimeout as ReplyTimeout
    from chanload.exceptions import StepError as StepError
    from chanload.exceptions import SubprotocolRejected as SubprotocolRejected
    from chanload.exceptions import WrongReply as WrongReply
    from chanload.exceptions import WsError as WsError
    from chanload.locust.shapes import CapacityShape as CapacityShape
    from chanload.locust.users import BroadcastUser as BroadcastUser
    from chanload.locust.users import ChannelsUser as ChannelsUser
    from chanload.locust.users import EchoUser as EchoUser
    from chanload.locust.users import WsUser as WsUser
    from chanload.run.settings import Settings as Settings
    from chanload.version import __version__ as __version__


__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS, globals())  # each name imported on first use
