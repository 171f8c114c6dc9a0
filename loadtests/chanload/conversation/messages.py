"""What a user sends (a payload template) and what it accepts back (an expected reply).

One placeholder grammar serves both (`chanload.conversation.placeholders`): `{name}` for a known name
is filled per message, any other text (JSON braces included) is literal, and values are filled raw, so
`"room": {group}` is a JSON number with integer rooms. Payloads know `{user}` (this connection's id),
`{seq}` (0, 1, ... per connection), `{group}` (the room), `{username}` (the account logged in with,
else empty), `{sent_ns}` (time.time_ns() at sending), `{mark}` (a token carrying sender, number and
send time, see `chanload.conversation.marks`), and, new for each message, `{random:LOW-HIGH}`,
`{choice:A|B|C}` and `{uuid}`. Expected replies know `{user}`, `{seq}`, `{group}` and `{username}`,
filled with the values of the message being answered. A dict or list message has the payload's
placeholders filled in its string values, keys untouched (`JsonPayload`, `fill_strings`).

A template that looks like JSON is checked before use: at start-up with the values the pool of rooms
really holds (`check`), and mid-run with the connection's own room.

The sending half is `chanload.conversation.payload`, the receiving half `chanload.conversation.expect`;
their names stay importable from here.
"""

from __future__ import annotations

from chanload.conversation.expect import EXPECT_FORMS, EXPECT_PLACEHOLDERS, Expect, Matcher
from chanload.conversation.payload import (
    PAYLOAD_PLACEHOLDERS,
    JsonPayload,
    Payload,
    Values,
    fill_strings,
    has_placeholder,
    keys_have_placeholder,
)
from chanload.conversation.placeholders import Template
from chanload.conversation.replies import subset
from chanload.wire.framing import Frame

__all__ = [
    "EXPECT_FORMS",
    "EXPECT_PLACEHOLDERS",
    "PAYLOAD_PLACEHOLDERS",
    "Expect",
    "Frame",
    "JsonPayload",
    "Matcher",
    "Payload",
    "Template",
    "Values",
    "fill_strings",
    "has_placeholder",
    "keys_have_placeholder",
    "subset",
]
