"""The capacity finder: loadtests/ws.py's users under a stepwise ramp that stops where a threshold breaks.

    locust -f loadtests/capacity.py RoomUser --headless --host ws://127.0.0.1:8000 \\
        --capacity-slo 'message:p95<50ms' --capacity-slo 'fail_ratio<1%' --capacity-step 20

Users go up by --capacity-step; each step is held --capacity-hold seconds (longer while unstable)
and judged on its own samples. The knee (highest step that held) is printed as a table and written
to summary.json (`capacity`) and report.html with --report-dir. -u and -r do not apply; -t bounds the
search (it ends there, its section saying where and that its knee is a lower bound), and so do Ctrl-C
and SIGTERM (the run is then interrupted, exit code 4).
"""

from __future__ import annotations

from locust import events

import sys

from ws import AsyncRoomUser, ChatUser, IdleUser, RoomUser  # noqa: F401 - the user classes

from chanload import CapacityShape  # noqa: F401 - Locust runs the shape it finds here
from chanload.run.policy import EXIT_BAD_OPTION


@events.init.add_listener
def _require_thresholds(environment, **_kw) -> None:
    """Without a threshold there is no knee: stop before any load, as for any wrong option."""
    opts = environment.parsed_options
    if opts is not None and not getattr(opts, "capacity_slo", None) and not getattr(opts, "worker", False):
        sys.stderr.write(
            "chanload: error: --capacity-slo is required: the threshold each step must hold, "
            "e.g. --capacity-slo 'message:p95<50ms'\n"
        )
        sys.exit(EXIT_BAD_OPTION)
