"""The load: members join a room, then talk; each waits for its own copy, the others' copies are deliveries."""

from locust import between, task

from chanload import WsUser


class ChatUser(WsUser):
    route = "ws/chat/{group}/"
    groups = "1-3"
    wait_time = between(0.05, 0.1)

    @task
    def talk(self):
        ws = self.ws
        if not ws.connected:
            ws.connect()
            ws.request({"type": "join", "name": f"user-{ws.user}"}, {"type": "joined"}, step="join")
        ws.request({"type": "say", "text": "{mark}"}, "own", step="say")
