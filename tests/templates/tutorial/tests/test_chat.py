"""The tutorial's chat with chanload's `ws` fixture: what a member says comes back to the room, the sender included."""


def test_a_message_reaches_the_room(ws):
    ws.connect("ws/chat/lobby/")
    ws.request({"message": "hello"}, {"message": "hello"}, step="say")
