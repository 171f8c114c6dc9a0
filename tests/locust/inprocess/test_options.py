"""The options as Locust's own parser reads them: the command line and config files."""

from __future__ import annotations

from locust.argument_parser import get_parser

import json

import chanload.locust.plugin  # noqa: F401 - registers the options on Locust's parser
from chanload.run.settings import settings_from

INIT = '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'
SUBSCRIBE = '[subscribe] {"id": "sub", "type": "subscribe", "payload": {"query": "{ a, b }"}} => json:{"id": "sub"}'


def test_opening_steps_come_in_order_from_a_config_files_list(tmp_path):
    """A JSON list in a .conf keeps each step whole, commas and quotes included; the command line's steps replace it."""
    conf = tmp_path / "app.conf"
    conf.write_text(f'ws-open = {json.dumps([INIT, SUBSCRIBE])}\nws-match = json:{{"id": "{{seq}}"}}\n')
    settings = settings_from(get_parser().parse_args(["--config", str(conf)]), "ws://127.0.0.1:9")
    assert [step.name for step in settings.opening] == ["init", "subscribe"]
    assert settings.opening[1].send is not None and settings.opening[1].send.template == SUBSCRIBE[12:].split(" => ")[0]
    assert settings.match is not None and settings.match.spec == 'json:{"id": "{seq}"}'
    given = get_parser().parse_args(["--config", str(conf), "--ws-open", "[bye] => re:.*"])
    assert [step.name for step in settings_from(given, "ws://127.0.0.1:9").opening] == ["bye"]


def test_opening_steps_and_match_are_none_unless_given():
    settings = settings_from(get_parser().parse_args([]), "ws://127.0.0.1:9")
    assert settings.opening == () and settings.match is None


def test_summary_parameters_say_each_classs_own_pacing_and_what_overrode_it():
    """A class with its own wait_time does not run --ws-think: the parameters say so (issue 16, item 7)."""
    from locust import between, constant

    from chanload.locust.users import ChannelsUser, WsUser

    class Paced(WsUser):
        abstract = True
        wait_time = between(0.25, 2)
        opening = ("[join] hello => OK",)
        match = "re:O."

    class Constant(WsUser):
        abstract = True
        wait_time = constant(3)

    class Own(WsUser):
        abstract = True

        def wait_time(self):
            return 1

    settings = settings_from(
        get_parser().parse_args(["--ws-payload", "hi {seq}", "--ws-think", "2"]), "ws://127.0.0.1:9"
    )
    described = Paced.describe(settings)
    assert described["pacing"] == "wait_time between(0.25, 2)"
    assert (described["payload"], described["expect"], described["match"]) == ("hi {seq}", "OK", "re:O.")
    assert described["opening"] == ["[join] hello => OK"]
    assert Constant.describe(settings)["pacing"] == "wait_time constant(3)"
    assert "Own.wait_time" in Own.describe(settings)["pacing"]
    assert ChannelsUser.describe(settings)["pacing"] == "think 2 s (--ws-think)"
    rated = settings_from(get_parser().parse_args(["--ws-rate", "4"]), "ws://127.0.0.1:9")
    assert ChannelsUser.describe(rated)["pacing"] == "rate 4/s per connection (--ws-rate, Poisson arrivals)"
