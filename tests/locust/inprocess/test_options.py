"""The options as Locust's own parser reads them: the command line and config files."""

from __future__ import annotations

from locust.argument_parser import get_parser

import json
import re

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


STEPS = [INIT, '[hello] {"text": "hi, you", "n": [1, 2]} => OK']


def test_repeated_opening_steps_are_one_json_list_text_as_the_web_form_shows_it():
    """--ws-open twice: one text, a JSON list the form's field shows whole; read back as the steps, in order."""
    from locust.argument_parser import ui_extra_args_dict

    args = ["--ws-open", STEPS[0], "--ws-open", STEPS[1], "--ws-subprotocol", "graphql-transport-ws"]
    parsed = get_parser().parse_args([*args, "--ws-subprotocol", "chat.v2"])
    assert parsed.ws_open == json.dumps(STEPS) and parsed.ws_subprotocol == "graphql-transport-ws,chat.v2"
    settings = settings_from(parsed, "ws://127.0.0.1:9")
    assert [step.spec for step in settings.opening] == STEPS
    assert settings.subprotocols == ("graphql-transport-ws", "chat.v2")
    shown = ui_extra_args_dict(args)
    assert shown["ws_open"]["default_value"] == json.dumps(STEPS)  # a text: the form does not join a list at commas
    assert shown["ws_subprotocol"]["default_value"] == "graphql-transport-ws"
    assert ui_extra_args_dict([])["ws_open"]["default_value"] == "[]"  # shown as a list even when empty
    assert "ws_header" not in shown  # its values are credentials the page would show: command line or config only


def test_a_config_files_steps_are_what_the_web_forms_field_shows(tmp_path):
    """The form's field is filled from the config file too (Locust reads it again for the page), as one JSON list."""
    from locust.argument_parser import ui_extra_args_dict

    conf = tmp_path / "app.conf"
    conf.write_text(f'ws-open = {json.dumps(STEPS)}\nws-subprotocol = ["graphql-transport-ws", "chat.v2"]\n')
    shown = ui_extra_args_dict(["--config", str(conf)])
    assert json.loads(shown["ws_open"]["default_value"]) == STEPS
    assert shown["ws_subprotocol"]["default_value"] == "graphql-transport-ws,chat.v2"


def start_form(monkeypatch, extra: list[str], form: dict, user_classes: list | None = None) -> tuple[dict, object]:
    """POST `form` to the web UI's /swarm, as the browser's form sends it, on Locust's own handler with
    chanload's check before it; the answer and the options a run would start with."""
    from locust import User, constant, task
    from locust.env import Environment
    from locust.web import WebUI

    import sys

    from chanload.locust import webui
    from chanload.run.settings import Settings

    class Idle(User):
        wait_time = constant(1)

        @task
        def nothing(self):
            pass

    argv = ["locust", "--host", "ws://127.0.0.1:9", *extra]
    monkeypatch.setattr(sys, "argv", argv)  # the page's fields show the command line's values
    parsed = get_parser().parse_args(argv[1:])
    env = Environment(user_classes=user_classes or [Idle], parsed_options=parsed, host=parsed.host)
    env.create_local_runner()
    web = WebUI(env, "127.0.0.1", 0)
    env.web_ui = web
    st = type("St", (), {"settings": Settings(host=parsed.host), "started": 0.0})()
    webui.attach(env, st, lambda: None, lambda: {}, None)
    try:
        answer = web.app.test_client().post("/swarm", data={"user_count": "0", "spawn_rate": "1", **form})
        return answer.get_json(), env.parsed_options
    finally:
        env.runner.quit()


def test_a_form_value_a_user_class_cannot_run_with_is_refused_in_the_form(monkeypatch):
    """Each user class checks the form's values too, as at a run's start: RoomUser's payload has no {mark}, so
    `own` can never be its reply; a JSON step that the class's rooms (names) make invalid."""
    from chanload.locust.users import EchoUser

    class RoomUser(EchoUser):  # loadtests/ws.py's
        route = "room/{group}"

    answer, options = start_form(monkeypatch, [], {"ws_expect": "own"}, [RoomUser])
    assert answer["success"] is False and answer["message"].startswith("--ws-expect own: RoomUser's payload"), answer
    assert options.ws_expect == ""
    step = '[join] {"room": {group}} => OK'  # RoomUser's rooms are g0..g9: names, so not JSON without quotes
    answer, _ = start_form(monkeypatch, [], {"ws_open": step}, [RoomUser])
    assert answer["success"] is False and "not valid JSON" in answer["message"], answer


def test_the_web_forms_steps_reach_the_run_whole_and_the_command_lines_stay_when_the_form_keeps_them(monkeypatch):
    """Through Locust's own swarm handler: a JSON list of steps with commas in it stays whole; the field as
    shown (the command line's steps) keeps them; one step alone is one step; the subprotocols split at commas."""
    cli = ["--ws-open", "[cli] hi => OK"]
    answer, options = start_form(monkeypatch, cli, {"ws_open": json.dumps(STEPS), "ws_subprotocol": "a, b"})
    assert answer["success"], answer
    settings = settings_from(options, "ws://127.0.0.1:9")
    assert [step.spec for step in settings.opening] == STEPS and settings.subprotocols == ("a", "b")
    answer, options = start_form(monkeypatch, cli, {"ws_open": json.dumps(["[cli] hi => OK"])})
    assert answer["success"] and [s.name for s in settings_from(options, "ws://h:1").opening] == ["cli"]
    answer, options = start_form(monkeypatch, cli, {"user_count": "0"})  # a POST without the field: the command line's
    assert answer["success"] and [s.name for s in settings_from(options, "ws://h:1").opening] == ["cli"]
    answer, options = start_form(monkeypatch, [], {"ws_open": '[hello] {"a": 1, "b": 2} => OK', "ws_subprotocol": ""})
    assert [s.spec for s in settings_from(options, "ws://h:1").opening] == ['[hello] {"a": 1, "b": 2} => OK']
    assert settings_from(options, "ws://h:1").subprotocols == ()
    answer, options = start_form(monkeypatch, cli, {"ws_open": "[]"})  # emptied: the class's own steps
    assert answer["success"] and settings_from(options, "ws://h:1").opening == ()


def test_a_form_value_that_cannot_be_read_whole_is_refused_with_the_fix_and_nothing_starts(monkeypatch):
    """A broken JSON list, a subprotocol with a space, a rate that is no number: the form's message says what
    to give; the options stay as they were and no run starts."""
    cases = [
        ({"ws_open": '["[a] {\\"x\\": 1} => OK", '}, r"--ws-open .*not valid JSON.*\[\"\[NAME\] SEND => EXPECT\""),
        ({"ws_open": '["[a] hi => OK", 3]'}, "a JSON list of steps holds only strings"),
        ({"ws_open": '["join", 1] => OK'}, r"read as a JSON list of steps.*a step that sends a JSON array goes in"),
        ({"ws_subprotocol": "graphql ws"}, "--ws-subprotocol 'graphql ws'"),
        ({"ws_rate": "fast"}, "--ws-rate 'fast': expected a number"),
    ]
    for form, message in cases:
        answer, options = start_form(monkeypatch, ["--ws-open", "[cli] hi => OK"], form)
        assert answer["success"] is False and re.search(message, answer["message"]), (form, answer)
        assert options.ws_open == json.dumps(["[cli] hi => OK"]) and options.ws_rate == 0.0


def test_a_drill_on_the_web_forms_post_is_refused_and_sets_nothing(monkeypatch):
    """--drill runs commands: Locust's swarm handler would set any parsed option a POST names, shown on the form or
    not; chanload refuses the form before it, with a message, and the options keep the command line's."""
    cli = ["--drill", "5s echo from-the-command-line"]
    for field, value in (("drill", "1s touch /tmp/chanload-never"), ("drill_timeout", "1")):
        answer, options = start_form(monkeypatch, cli, {field: value})
        assert answer["success"] is False, answer
        assert answer["message"].startswith(f"--{field.replace('_', '-')} runs commands on the machine of the web UI")
        assert options.drill == ["5s echo from-the-command-line"] and options.drill_timeout == 60.0
    answer, options = start_form(monkeypatch, cli, {"ws_think": "1"})  # a form without it starts
    assert answer["success"], answer


def test_an_option_the_form_does_not_show_is_refused_from_a_post_and_sets_nothing(monkeypatch):
    """Every chanload option kept off the form (a file to read, a folder to write, TLS checks off, a process to
    watch...): a POST naming it is refused with the option's name, and the command line's value stays."""
    from chanload.locust.options import FORM_FIELDS, OFF_FORM

    cli = ["--report-dir", "reports/cli"]
    for field, value in (("report_dir", "/tmp/elsewhere"), ("credentials", "/etc/shadow"), ("ws_insecure", "true")):
        answer, options = start_form(monkeypatch, cli, {field: value})
        assert answer["success"] is False, answer
        assert answer["message"].startswith(f"{OFF_FORM[field]} is not on the web UI's form"), answer
        assert options.report_dir == "reports/cli" and not options.credentials and not options.ws_insecure
    assert {"report_dir", "credentials", "ws_insecure", "watch", "slo", "ws_trace"} <= set(OFF_FORM)  # as registered
    assert not set(OFF_FORM) & set(FORM_FIELDS)


def test_drills_come_from_a_config_file_and_are_taken_out_of_what_a_master_ships(tmp_path, caplog):
    """A config file's list of drills is read; once read, the parsed options (which a master sends its workers
    whole) hold none; a worker given drills runs none and says so."""
    from chanload.locust import drills

    conf = tmp_path / "drill.conf"
    conf.write_text('drill = ["20s kill -TERM 4321", "5s echo first"]\ndrill-timeout = 7\n')
    parsed = get_parser().parse_args(["--config", str(conf)])
    planned, timeout = drills.read(parsed, worker=False)
    assert [(d.at, d.command) for d in planned] == [(5.0, "echo first"), (20.0, "kill -TERM 4321")]
    assert timeout == 7.0 and parsed.drill == []
    parsed = get_parser().parse_args(["--drill", "1s echo hi"])
    with caplog.at_level("WARNING", "chanload"):
        assert drills.read(parsed, worker=True)[0] == ()
    assert "run by the master only: this worker ignores its 1 drill(s)" in caplog.text and parsed.drill == []
