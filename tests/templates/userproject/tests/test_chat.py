"""Behaviour tests of the chat, with chanload's pytest fixtures only: one conversation, a room of 20, a load."""


def test_join_echo_and_say(ws):
    ws.connect("ws/chat/lobby/")
    ws.request({"type": "join", "name": "alice"}, {"type": "joined", "room": "lobby"}, step="join")
    ws.request({"type": "echo", "text": "hello"}, {"type": "echo", "text": "hello"}, step="ping")
    ws.request({"type": "say", "text": "hi all"}, {"type": "said", "from": "alice", "text": "hi all"}, step="say")


def test_every_member_gets_every_message_in_order(ws_factory):
    members, messages = 20, 5

    def member(ws, me):
        ws.connect("ws/chat/big/")
        ws.request({"type": "join", "name": f"m{me.index}"}, {"type": "joined"}, step="join")
        me.together()  # everyone is in the room before anyone talks
        for _ in range(messages):
            ws.send({"type": "say", "text": "{mark}"}, step="say")  # {mark}: numbered per sender, timed

    crowd = ws_factory.run(members, member)
    crowd.check()  # names every member that missed, repeated or reordered a message
    for m in crowd:
        assert len(m.heard) == members - 1  # from every other member: each message, once, in order
        assert all(numbers == list(range(messages)) for numbers in m.heard.values()), m.heard
    assert crowd.total["delivered"] == members * (members - 1) * messages


def test_the_room_holds_under_load(chanload_load):
    result = chanload_load(
        "chatsite.load.ChatUser",  # a user class by dotted path, or a locustfile's path
        users=20,
        spawn_rate=10,
        run_time="10s",
        slo=["message@say:p99<500ms", "fail_ratio<1%", "delivery_ratio>=99%"],
    )
    assert result.passed, result.thresholds
    say = result.row("message", "say")  # microseconds: count, failures, p50, p90, p99, p99_9, max
    assert say.count > 100 and say.failures == 0
    assert result.delivery["total"]["duplicated"] == 0
