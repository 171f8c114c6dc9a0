"""benchmarks/wire.py's pairing of request and reply packets (the fidelity benchmark's third witness)."""

from __future__ import annotations

import pytest

from benchmarks.wire import pair

LINES = """\
1000.000100 IP 127.0.0.1.5001 > 127.0.0.1.8000: Flags [P.], seq 1:12, ack 1, win 512, length 11
1000.000150 IP 127.0.0.1.5002 > 127.0.0.1.8000: Flags [P.], seq 1:12, ack 1, win 512, length 11
1000.000160 IP 127.0.0.1.8000 > 127.0.0.1.5001: Flags [.], ack 12, win 512, length 0
1000.000200 IP 127.0.0.1.9999 > 127.0.0.1.8000: Flags [P.], seq 1:12, ack 1, win 512, length 11
1000.000700 IP 127.0.0.1.8000 > 127.0.0.1.5002: Flags [P.], seq 1:5, ack 12, win 512, length 4
1000.000900 IP 127.0.0.1.8000 > 127.0.0.1.5001: Flags [P.], seq 1:5, ack 12, win 512, length 4
1000.000950 IP 127.0.0.1.8000 > 127.0.0.1.9999: Flags [P.], seq 1:5, ack 12, win 512, length 4
1000.001000 IP 127.0.0.1.8000 > 127.0.0.1.5003: Flags [P.], seq 1:5, ack 12, win 512, length 4
reading from file wire.pcap, link-type EN10MB (Ethernet)
"""


def test_requests_pair_with_the_next_reply_on_their_own_connection():
    trips = pair(LINES.splitlines(), 8000, 11, 4, exclude={9999})
    # 5002: 150 -> 700 us; 5001: 100 -> 900 us. The probe (9999) is left out; 5003's reply had no
    # captured request; the bare ACK (length 0) is no reply.
    assert trips == pytest.approx([550.0, 800.0])
