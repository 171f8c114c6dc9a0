"""A Channels project shaped like apps the suite is pointed at, written as their authors would write them.

Served by Daphne in the tests (`foreign.asgi:application`, with tests/apps on the path). Nothing in it
knows the suite: it is what a user's own app looks like.

  ws/chat/<room_name>/      the Channels tutorial's chat: {"message": X} relayed to every member, no ack
  ws/prices/<int:room_id>/  JSON request/reply with ids, and unsolicited ticks pushed every few ms
  ws/private/<room>/        behind AuthMiddlewareStack: anonymous handshakes refused, users answered by name
  ws/graphql/               strawberry-graphql's Channels consumer: graphql-transport-ws, a query and a subscription
                            pushing every 15 ms (schema.py)
  ws/api/items/             djangochannelsrestframework: list/retrieve/price on Item by request_id (api.py)
  ws/lobby/                 a login chat (lobby.py): {"command": "join", "room": 1} -> {"join": "1"}, then
                            {"command": "send", ...} relayed to the room with the username; anonymous refused
  login/                    POST username + password: a Django session cookie
  accounts/login/           Django's own LoginView: a CSRF-protected form, a 302 with the session cookie
"""
