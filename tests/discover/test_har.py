"""`python -m chanload har` on HAR files built here, in Chrome's layout: what each case infers, notes or refuses,
and that no credential of the recording reaches the output. In process: no server, no browser."""

from __future__ import annotations

import json
import uuid

from chanload.discover import cli

HOST = "127.0.0.1:8000"
T0 = 1_800_000_000.0


def har(tmp_path, frames, *, path="ws/x/", request_headers=(), response_headers=(), entries=()):
    """A HAR of one websocket entry; frames: (sent, data) every 50 ms, or (sent, data, opcode)."""
    messages = [
        {"type": "send" if f[0] else "receive", "time": T0 + 0.05 * i, "opcode": f[2] if len(f) > 2 else 1,
         "data": f[1] if isinstance(f[1], str) else json.dumps(f[1])}
        for i, f in enumerate(frames)
    ]  # fmt: skip
    socket = {
        "_resourceType": "websocket",
        "startedDateTime": "2027-01-15T08:00:00.000Z",
        "request": {"method": "GET", "url": f"ws://{HOST}/{path}", "headers": [
            {"name": n, "value": v} for n, v in request_headers]},
        "response": {"status": 101, "headers": [{"name": n, "value": v} for n, v in response_headers]},
        "_webSocketMessages": messages,
    }  # fmt: skip
    file = tmp_path / "rec.har"
    file.write_text(json.dumps({"log": {"version": "1.2", "entries": [*entries, socket]}}))
    return str(file)


def convert(file, capsys, *args):
    code = cli.main([file, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lines(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))


def test_varying_fields_become_placeholders_and_the_reply_is_matched_by_id(tmp_path, capsys):
    frames = []
    for i, (side, qty) in enumerate([("buy", 3), ("sell", 9), ("buy", 5), ("sell", 4)], 1):
        frames.append((True, {"op": "order", "id": i, "side": side, "qty": qty, "ref": str(uuid.uuid4())}))
        frames.append((False, {"op": "tick", "n": i}))  # a push between a send and its reply
        frames.append((False, {"op": "ack", "id": i, "status": "ok", "at": T0 + i}))
    code, out, err = convert(har(tmp_path, frames, path="ws/orders/42/"), capsys)
    assert code == 0, err
    conf = lines(out)
    assert conf["ws-path"] == "ws/orders/{group}/" and conf["ws-groups"] == "42-42"
    assert conf["ws-payload"] == (
        '{"op": "order", "id": {seq}, "side": "{choice:buy|sell}", "qty": {random:3-9}, "ref": "{uuid}"}'
    )
    assert conf["ws-match"] == 'json:{"id": {seq}, "op": "ack"}'
    assert conf["ws-expect"] == 'json:{"status": "ok"}'  # "at" changed between replies: left out
    assert conf["ws-other"] == "skip" and conf["ws-think"] == "0.05"


def test_text_frames_a_compressed_extension_is_noted(tmp_path, capsys):
    frames = [(True, "hello"), (False, "welcome"), (True, "ping"), (False, "pong"), (True, "ping"), (False, "pong")]
    file = har(tmp_path, frames, response_headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    code, out, err = convert(file, capsys)
    assert code == 0, err
    conf = lines(out)
    assert json.loads(conf["ws-open"]) == ["[open1] hello => welcome"]
    assert conf["ws-payload"] == "ping" and conf["ws-expect"] == "pong" and "ws-other" not in conf
    assert "'permessage-deflate'" in err and "uncompressed" in err


def test_credentials_in_the_recording_are_left_out_and_said_so(tmp_path, capsys):
    session, token, key = "s3ss10nvalue77", "qwertyuiop123456", "abcdef0123456789"
    frames = [(True, {"type": "auth", "token": session}), (False, {"type": "ok"})]
    frames += [(True, {"type": "ping"}), (False, {"type": "pong"})] * 2
    file = har(
        tmp_path, frames, path=f"ws/feed/?token={token}&lang=en",
        request_headers=[("Cookie", f"sessionid={session}; csrftoken=csrfcsrf99"), ("Authorization", f"Token {key}")],
    )  # fmt: skip
    code, out, err = convert(file, capsys, "-o", str(tmp_path / "run.conf"))
    assert code == 0, err
    written = (tmp_path / "run.conf").read_text()
    for secret in (session, token, key, "csrfcsrf99"):
        assert secret not in written + out + err
    assert '# ws-header = ["Cookie: sessionid=FILL_IN"]' in written
    assert '# ws-header = ["Authorization: Token FILL_IN"]' in written
    assert "# ws-path = ws/feed/?token=FILL_IN" in written and "ws-path = ws/feed/\n" in written
    assert json.loads(lines(written)["ws-open"]) == [
        '[auth] {"type": "auth", "token": "FILL_IN"} => json:{"type": "ok"}'
    ]
    assert "written FILL_IN" in err and "query string (token, lang)" in err


def test_a_login_form_before_the_upgrade_becomes_login_options(tmp_path, capsys):
    login = {
        "startedDateTime": "2027-01-15T07:59:00.000Z",
        "request": {"method": "POST", "url": f"http://{HOST}/accounts/login/", "headers": [],
                    "postData": {"params": [{"name": "username", "value": "bob"},
                                            {"name": "password", "value": "hunter2-secret"}]}},
        "response": {"status": 302, "headers": [{"name": "Set-Cookie", "value": "sid=abcdabcdabcd; HttpOnly"}]},
    }  # fmt: skip
    frames = [(True, {"command": "hi"}), (False, {"user": "bob", "ok": True})] * 2
    file = har(tmp_path, frames, request_headers=[("Cookie", "sid=abcdabcdabcd")], entries=[login])
    code, out, err = convert(file, capsys)
    assert code == 0, err
    conf = lines(out)
    assert conf["login-url"] == "/accounts/login/" and conf["credentials"] == "users.csv"
    assert conf["login-cookie"] == "sid"
    assert conf["ws-expect"] == 'json:{"user": "{username}", "ok": true}'  # the account's name, whoever logs in
    assert "hunter2-secret" not in out + err and "abcdabcdabcd" not in out + err


def test_replies_that_differ_as_text_point_to_python(tmp_path, capsys):
    frames = [(True, "ask"), (False, "the answer is yes"), (True, "ask"), (False, "maybe not")]
    code, out, err = convert(har(tmp_path, frames), capsys)
    assert code == 2 and out == ""
    assert "--python loadfile.py" in err


def test_a_frame_chanload_would_read_as_a_placeholder_is_refused_naming_the_option(tmp_path, capsys):
    frames = [(True, {"q": "{name}"}), (False, {"ok": True})] * 2
    code, out, err = convert(har(tmp_path, frames), capsys)
    assert code == 2 and out == ""
    assert "--ws-payload" in err and "unknown placeholder {name}" in err


def test_a_socket_that_sent_nothing_is_refused(tmp_path, capsys):
    code, _, err = convert(har(tmp_path, [(False, "hello")]), capsys)
    assert code == 2 and "sent no frame" in err


def test_kinds_taking_turns_write_python_whose_replies_are_not_a_push_that_came_first(tmp_path, capsys):
    frames = []
    for i, symbol in enumerate(["ACME", "GLOBX", "ACME"], 1):
        frames.append((True, {"op": "subscribe", "symbol": symbol}))
        if i == 1:
            frames.append((False, {"op": "tick", "n": 1}))  # once, before the reply: not the reply
        frames += [(False, {"op": "subscribed", "symbol": symbol}), (True, {"op": "quote", "id": i})]
        frames.append((False, {"op": "price", "id": i, "px": 100 + i / 7}))
    file = har(tmp_path, frames)
    code, _, err = convert(file, capsys)
    assert code == 2 and "several kinds of message taking turns (subscribe, quote)" in err
    out = tmp_path / "loadfile.py"
    code, _, err = convert(file, capsys, "--python", str(out))
    assert code == 0, err
    source = out.read_text()
    assert (
        """ws.request('{"op": "subscribe", "symbol": "{choice:ACME|GLOBX}"}', 'json:{"op": "subscribed"}'""" in source
    )
    assert """ws.request('{"op": "quote", "id": {seq}}', 'json:{"id": {seq}, "op": "price"}', step='quote')""" in source
    compile(source, str(out), "exec")


def test_string_ids_become_seq_in_their_string(tmp_path, capsys):
    """Ids like "q7" or a UUID (graphql-ws clients send them): each message still carries its own, as {seq}."""
    for ids, expected in ((["q1", "q2", "q3"], '"q{seq}"'), ([str(uuid.uuid4()) for _ in range(3)], '"{seq}"')):
        frames = []
        for ident in ids:
            frames += [(True, {"type": "subscribe", "id": ident}), (False, {"type": "next", "id": ident, "v": 1})]
        code, out, err = convert(har(tmp_path, frames), capsys)
        assert code == 0, err
        conf = lines(out)
        assert conf["ws-payload"] == f'{{"type": "subscribe", "id": {expected}}}'
        assert conf["ws-match"] == f'json:{{"id": {expected}, "type": "next"}}'
        assert conf["ws-expect"] == 'json:{"v": 1}'


def test_the_same_url_twice_takes_the_longer_conversation_and_says_so(tmp_path, capsys):
    frames = [(True, "ping"), (False, "pong")] * 3
    doc = json.loads(open(har(tmp_path, frames)).read())
    short = json.loads(json.dumps(doc["log"]["entries"][0]))
    short["_webSocketMessages"] = short["_webSocketMessages"][:1]  # a reconnect that sent once, then dropped
    doc["log"]["entries"].insert(0, short)
    (tmp_path / "two.har").write_text(json.dumps(doc))
    code, out, err = convert(str(tmp_path / "two.har"), capsys)
    assert code == 0, err
    assert lines(out)["ws-expect"] == "pong" and "6 frames" not in err and "3 frames sent, 3 received" in err
    assert "2 entries for this URL (reconnects): the longest conversation is the one used" in err


def test_an_opening_steps_id_stays_as_recorded(tmp_path, capsys):
    """A message sent once keeps its values: joining room_id 5 joins room 5 on every connect, not room {seq}."""
    frames = [(True, {"command": "join", "room_id": 5}), (False, {"type": "tick"}), (False, {"joined": 5})]
    frames += [(True, {"command": "say", "text": "hi"}), (False, {"said": "hi"})] * 2
    code, out, err = convert(har(tmp_path, frames), capsys)
    assert code == 0, err
    assert json.loads(lines(out)["ws-open"]) == ['[join] {"command": "join", "room_id": 5} => json:{"joined": 5}']
