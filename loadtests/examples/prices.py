"""A JSON request/reply app with ids, among unsolicited pushes: a conversation in a few lines of Python.

    locust -f loadtests/examples/prices.py --host ws://127.0.0.1:8000

Each user connects to `ws/prices/<int:room_id>/`, subscribes to a symbol (the `subscribe` step), then
asks for quotes by id (the `quote` step). The app pushes ticks every few ms; they are skipped and
counted as other frames, and each quote's round trip ends at the price that carries its own id.
Each step is its own row: gate them apart with `--slo 'message@quote:p99<50ms'`.

The quote step alone also runs by options, with no Python:
    --ws-path 'ws/prices/{group}/' --ws-groups 1-20 --ws-payload '{"op": "quote", "id": {seq}}'
    --ws-expect 'json:{"op": "price", "id": {seq}}' --ws-other skip
"""

from __future__ import annotations

from locust import between, task

import random

from chanload import WsUser  # brings the --ws-* options, recording, thresholds and artifacts

SYMBOLS = ("ACME", "GLOBX", "INITEC")


class PriceUser(WsUser):
    route = "ws/prices/{group}/"
    groups = "1-20"  # the route takes an integer room id
    other = "skip"  # ticks are pushed all the time: skip them (and count them) while a reply is awaited
    wait_time = between(0.02, 0.05)

    def on_start(self) -> None:
        super().on_start()
        self.symbol = random.choice(SYMBOLS)

    @task
    def quote(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()
            ws.request({"op": "subscribe", "symbol": self.symbol}, {"op": "subscribed"}, step="subscribe")
        ws.request(
            {"op": "quote", "id": ws.seq, "symbol": self.symbol},
            {"op": "price", "id": ws.seq, "symbol": self.symbol},
            step="quote",
        )
