"""`python -m chanload --help`: Locust's help including the --ws-* and --slo options.

Locust 2.47 answers `locust --help` before it imports the locustfile, so options registered through
`init_command_line_parser` (ours) are missing there; this prints the complete list.
"""

from __future__ import annotations

from locust.argument_parser import get_parser

import sys

from chanload.locust import plugin  # noqa: F401 - registers the options


def main() -> None:
    parser = get_parser()
    parser.prog = "locust -f loadtests/ws.py"
    parser.print_help(sys.stdout)


if __name__ == "__main__":
    main()
