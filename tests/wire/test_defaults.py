"""The session defaults (chanload.wire.defaults) are the ones every layer uses: written once."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from chanload.conversation.session import Session
from chanload.run.settings import Settings
from chanload.testing import FakeClient
from chanload.wire.client import WsClient
from chanload.wire.defaults import DEFAULTS


def test_every_layer_takes_the_one_default():
    for call in (WsClient.__init__, FakeClient.__init__, Session.__init__):
        params = inspect.signature(call).parameters
        assert params["connect_timeout"].default == DEFAULTS.connect_timeout, call
        assert params["reply_timeout"].default == DEFAULTS.reply_timeout, call
    assert inspect.signature(Session.login).parameters["cookie"].default == DEFAULTS.login_cookie
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert (fields["connect_timeout"], fields["reply_timeout"], fields["login_cookie"]) == (
        DEFAULTS.connect_timeout, DEFAULTS.reply_timeout, DEFAULTS.login_cookie,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.reply_timeout = 1.0  # type: ignore[misc]
