"""Options: defaults, validation messages that name the option, route-template names."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chanload.conversation.groups import Groups, fill_path, route_name
from chanload.exceptions import OptionError
from chanload.run.settings import settings_from

DEFAULTS = dict(
    ws_path="",
    ws_groups="",
    ws_payload="",
    ws_expect="",
    ws_connect_timeout=5.0,
    ws_reply_timeout=5.0,
    ws_think="0.5-1.5",
    ws_rate=0.0,
    ws_messages=0,
    ws_header=[],
    report_dir="",
)


def opts(**changes):
    return SimpleNamespace(**{**DEFAULTS, **changes})


def test_defaults_keep_each_user_class_route_and_contract():
    """No --ws-path/--ws-payload/--ws-expect: None, so each user class uses its own."""
    s = settings_from(opts(), "ws://127.0.0.1:1234")
    assert (s.path, s.payload, s.expect) == (None, None, None)
    assert s.think == (0.5, 1.5) and s.rate == 0


def test_http_host_becomes_ws():
    """http:// and https:// hosts are taken as ws:// and wss://."""
    assert settings_from(opts(), "http://127.0.0.1:1234/").host == "ws://127.0.0.1:1234"
    assert settings_from(opts(), "https://example.test").host == "wss://example.test"


@pytest.mark.parametrize(
    ("host", "changes", "message"),
    [
        (None, {}, "pass --host"),
        ("ftp://x", {}, "expected ws://HOST:PORT"),
        ("ws://h", {"ws_think": "2-1"}, "--ws-think '2-1'"),
        ("ws://h", {"ws_groups": 0}, "--ws-groups"),
        ("ws://h", {"ws_groups": "a,,b"}, "--ws-groups 'a,,b': expected N"),
        ("ws://h", {"ws_groups": "9-3"}, "LOW <= HIGH"),
        ("ws://h", {"ws_groups": "@/nonexistent/rooms.txt"}, "cannot read the file"),
        ("ws://h", {"ws_other": "ignore"}, "--ws-other 'ignore'"),
        ("ws://h", {"ws_expect": 'json:{"id": {seq}'}, "not valid JSON"),
        ("ws://h", {"ws_expect": 'json:{"id": {nope}}'}, "unknown placeholder {nope}"),
        ("ws://h", {"ws_expect": "own", "ws_payload": "hi {seq}"}, "put {mark} in --ws-payload"),
        ("ws://h", {"ws_payload": "{mark"}, "looks like JSON"),
        ("ws://h", {"ws_rate": -1}, "--ws-rate"),
        ("ws://h", {"ws_path": "room/{room}"}, "only {group}"),
        ("ws://h", {"ws_header": ["NoColon"]}, "--ws-header"),
        ("ws://h", {"ws_subprotocol": ["graphql ws"]}, "--ws-subprotocol 'graphql ws': a subprotocol is one token"),
        ("ws://h", {"ws_subprotocol": ["a,b"]}, "to offer several, repeat --ws-subprotocol"),
        ("ws://h", {"ws_subprotocol": ["chat;v=2"]}, "--ws-subprotocol 'chat;v=2'"),
        ("ws://h", {"ws_subprotocol": [""]}, "--ws-subprotocol ''"),
        ("ws://h", {"ws_reply_timeout": "soon"}, "expected a number"),
        ("ws://h", {"ws_png_charts": "no"}, "--ws-png-charts 'no': expected 'on' or 'off'"),
        ("ws://h", {"ws_max_message": "lots"}, "--ws-max-message 'lots': expected a size in bytes, e.g. 16MiB"),
        ("ws://h", {"ws_max_message": "16 TiB"}, "--ws-max-message '16 TiB': expected a size"),
        ("ws://h", {"ws_max_message": "100"}, "--ws-max-message '100': must be at least 125 bytes"),
        ("wss://h", {"ws_ca_file": "/nonexistent/ca.pem"}, "--ws-ca-file '/nonexistent/ca.pem': no such file"),
        ("wss://h", {"ws_ca_file": __file__}, "not a PEM file of CA certificates"),
    ],
)
def test_bad_values_name_the_option(host, changes, message):
    """Every bad value raises OptionError with the option and what to change."""
    with pytest.raises(OptionError, match=message.replace("{", r"\{").replace("(", r"\(")):
        settings_from(opts(**changes), host)


def test_route_name_is_a_template_without_ids_or_query():
    """room/{group} reports as room/[group]; a query string is not part of the name."""
    assert route_name("room/{group}") == "room/[group]"
    assert route_name("ws/chat/{group}/?token=abc") == "ws/chat/[group]/"


def test_groups_take_every_documented_form(tmp_path):
    """N, LOW-HIGH, A,B,C and @FILE each give the pool they name, and pick only from it."""
    names = tmp_path / "rooms.txt"
    names.write_text("# tickers\nAAPL\n\n  MSFT  \n")
    cases = {
        "3": {"g0", "g1", "g2"},
        "7-9": {"7", "8", "9"},
        "lobby,AAPL": {"lobby", "AAPL"},
        f"@{names}": {"AAPL", "MSFT"},
    }
    for spec, pool in cases.items():
        groups = settings_from(opts(ws_groups=spec), "ws://h").groups
        assert groups.size == len(pool), spec
        assert {groups.pick() for _ in range(300)} == pool, spec


def test_an_empty_groups_file_is_refused(tmp_path):
    """A file with only comments and blank lines names no room: an option error, not a run of 500s."""
    names = tmp_path / "rooms.txt"
    names.write_text("# nothing\n\n")
    with pytest.raises(OptionError, match="holds no names"):
        Groups.parse(f"@{names}")


def test_group_values_are_percent_encoded_in_the_path():
    """A name with a space or a slash cannot change the path's shape."""
    assert fill_path("ws/chat/{group}/", "a b/c") == "ws/chat/a%20b%2Fc/"
    assert fill_path("ws/prices/{group}/", "AAPL") == "ws/prices/AAPL/"


def test_other_is_the_user_classes_unless_given():
    """No --ws-other: None, so each user class keeps its own (fail for the built-in ones)."""
    assert settings_from(opts(), "ws://h").other is None
    assert settings_from(opts(ws_other="skip"), "ws://h").other == "skip"


def test_png_charts_are_on_unless_turned_off():
    """No --ws-png-charts: the PNG charts are drawn; 'off' turns them off."""
    assert settings_from(opts(), "ws://h").png_charts is True
    assert settings_from(opts(ws_png_charts="on"), "ws://h").png_charts is True
    assert settings_from(opts(ws_png_charts="off"), "ws://h").png_charts is False


def test_without_ws_groups_each_user_class_keeps_its_own_pool():
    """No --ws-groups: None, so a locustfile for an integer route can carry `groups = "1-50"`."""
    assert settings_from(opts(), "ws://h").groups is None


def test_subprotocols_are_the_user_classes_unless_given_and_keep_their_order():
    """--ws-subprotocol, repeated or as a config file's list, in order (once each); one string from the environment."""
    assert settings_from(opts(), "ws://h").subprotocols == ()
    given = ["graphql-transport-ws", "chat.v2", "graphql-transport-ws"]
    assert settings_from(opts(ws_subprotocol=given), "ws://h").subprotocols == ("graphql-transport-ws", "chat.v2")
    assert settings_from(opts(ws_subprotocol="mqtt"), "ws://h").subprotocols == ("mqtt",)


def test_a_json_payload_and_expect_are_checked_with_the_pool_given(caplog):
    """--ws-groups 3 (g0..g2) refuses `"room": {group}` and says what to give; 1-3 takes it; no pool: the class's."""
    room = '{"op": "subscribe", "room": {group}}'
    with pytest.raises(OptionError, match=r"--ws-groups 3 gives the names g0\.\.g2 .*--ws-groups 1-3"):
        settings_from(opts(ws_groups="3", ws_payload=room), "ws://h")
    with pytest.raises(OptionError, match=r"--ws-expect json: template .*--ws-groups 3 gives the names"):
        settings_from(opts(ws_groups="3", ws_expect='json:{"room": {group}}'), "ws://h")
    assert settings_from(opts(ws_groups="1-3", ws_payload=room), "ws://h").payload.template == room
    assert settings_from(opts(ws_payload=room), "ws://h").groups is None  # each user class checks with its own


def test_the_pool_is_logged_once_and_a_bare_number_warns(caplog):
    """What {group} takes is logged at start-up, once however often settings are read; `N` as a warning."""
    caplog.set_level("INFO", logger="chanload")
    for _ in range(2):
        settings_from(opts(ws_groups="717-719"), "ws://h")  # values no other test gives: logged once per process
        settings_from(opts(ws_groups="41"), "ws://h")
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "chanload"]
    assert said == [
        ("INFO", "--ws-groups 717-719: {group} takes 717..719 (3 integers)"),
        ("WARNING", Groups.parse("41").warning()),
    ]


def test_ws_trace_is_off_unless_asked_for():
    assert settings_from(opts(), "ws://127.0.0.1:1234").trace is False
    assert settings_from(opts(ws_trace=True), "ws://127.0.0.1:1234").trace is True


def test_watch_takes_named_pids_and_a_redis_url_with_the_layers_keys():
    """--watch NAME=PID (repeatable), --watch-redis URL, its layer's prefix and capacity; defaults: channels_redis's."""
    s = settings_from(opts(watch=["daphne=12", "worker.2=34"], watch_redis="redis://127.0.0.1:6379/0"), "ws://x:1")
    assert s.watch == (("daphne", 12), ("worker.2", 34))
    assert (s.watch_redis, s.watch_redis_prefix, s.watch_redis_capacity) == ("redis://127.0.0.1:6379/0", "asgi", 100)
    s = settings_from(opts(watch_redis="unix:///run/redis.sock", watch_redis_capacity=500), "ws://x:1")
    assert (s.watch, s.watch_redis, s.watch_redis_capacity) == ((), "unix:///run/redis.sock", 500)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"watch": ["12345"]}, "--watch '12345': expected NAME=PID"),
        ({"watch": ["daphne=abc"]}, "--watch 'daphne=abc': expected NAME=PID"),
        ({"watch": ["daphne=0"]}, "--watch 'daphne=0': expected NAME=PID"),
        ({"watch": ["a b=1"]}, "--watch 'a b=1': expected NAME=PID"),
        ({"watch": ["d=1", "d=2"]}, "--watch 'd=2': the name 'd' is given twice"),
        ({"watch_redis": "127.0.0.1:6379"}, "--watch-redis '127.0.0.1:6379': expected a Redis URL"),
        ({"watch_redis": "http://127.0.0.1:6379"}, "--watch-redis 'http://127.0.0.1:6379': expected a Redis URL"),
        ({"watch_redis_capacity": 0}, "--watch-redis-capacity 0: must be greater than 0"),
    ],
)
def test_a_bad_watch_option_says_what_to_give(changes, message):
    """Each wrong form is an OptionError (exit code 2 before any load) naming the option and the form expected."""
    with pytest.raises(OptionError) as info:
        settings_from(opts(**changes), "ws://x:1")
    assert str(info.value).startswith(message), str(info.value)


def test_max_message_takes_bytes_or_a_unit_and_defaults_to_16_mib():
    assert settings_from(opts(), "ws://h").max_message == 16 * 1024 * 1024
    sizes = {"1048576": 1 << 20, "512KiB": 512 << 10, "16MiB": 16 << 20, "1 GiB": 1 << 30, "2MB": 2_000_000,
             "125": 125, "64kb": 64_000}  # fmt: skip
    for given, size in sizes.items():
        assert settings_from(opts(ws_max_message=given), "ws://h").max_message == size, given


def test_a_ca_file_that_loads_is_kept_and_insecure_is_off_unless_given(tmp_path):
    from tests.apps.rawws import self_signed

    cert, _key = self_signed(tmp_path)
    s = settings_from(opts(ws_ca_file=str(cert)), "wss://127.0.0.1:1")
    assert s.ca_file == str(cert) and not s.insecure
    assert settings_from(opts(ws_insecure=True), "wss://127.0.0.1:1").insecure
