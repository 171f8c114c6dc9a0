"""The request types: one per logical websocket action, the one list every module and benchmark names.

Each becomes a Locust request type, a row of summary.json (`type`), and a threshold metric (its name
without `WS ` or `HTTP `, spaces as underscores: `message`, `message_corrected`, `connect`, `login`, ...). Request names
are route templates (`room/[group]`) or the names of a conversation's steps, never raw URLs.
"""

from __future__ import annotations

CONNECT = "WS connect"  # the handshake, TCP connect to the 101 answer
MESSAGE = "WS message"  # a round trip: send -> the frame that matched
CORRECTED = "WS message corrected"  # open model: intended send -> the frame that matched
SEND_LAG = "WS send lag"  # open model: intended send -> actual send
DELIVERY = "WS delivery"  # another member's marked message: its send time -> its arrival here
RECEIVE = "WS receive"  # expect(): a wait for a frame with no message of its own
SEND = "WS send"  # send(): a message no reply is awaited for (recorded only when it fails)
RECONNECT = "WS reconnect"  # a drop -> the conversation ready again (backoff, handshakes, opening steps)
LOGIN = "HTTP login"  # ws.login / --login-url: the whole HTTP login before connecting (GET the form + POST it)

REQUEST_TYPES = (CONNECT, MESSAGE, CORRECTED, SEND_LAG, DELIVERY, RECEIVE, SEND, LOGIN, RECONNECT)
