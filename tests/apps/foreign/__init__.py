"""A Channels project shaped like apps the suite is pointed at, written as their authors would write them.

Served by Daphne in the tests (`foreign.asgi:application`, with tests/apps on the path). Nothing in it
knows the suite: it is what a user's own app looks like.

  ws/chat/<room_name>/      the Channels tutorial's chat: {"message": X} relayed to every member, no ack
  ws/prices/<int:room_id>/  JSON request/reply with ids, and unsolicited ticks pushed every few ms
  ws/private/<room>/        behind AuthMiddlewareStack: anonymous handshakes refused, users answered by name
  login/                    POST username + password: a Django session cookie
"""
