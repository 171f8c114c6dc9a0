"""`python -m chanload`: the complete option list, `compare BASE NEW` (two runs, judged), `routes` or `har`.

- `python -m chanload --help` (or no arguments): Locust's help including the --ws-* and --slo options.
  Locust 2.47 answers `locust --help` before it imports the locustfile, so options registered through
  `init_command_line_parser` (ours) are missing there; this prints the complete list.
- `python -m chanload compare BASE NEW [--max-regression 10%] [--report-dir DIR]`: `chanload.reporting.compare`.
- `python -m chanload routes [module:application] [--settings MODULE] [--json]`: a Channels app's websocket
  routes with ready --ws-* options (`chanload.discover.command`).
- `python -m chanload har FILE.har [-o run.conf] [--url TEXT] [--python loadfile.py]`: a browser recording as a
  config file or a WsUser locustfile (`chanload.discover.cli`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["compare"]:
        from chanload.reporting.compare import main as compare  # no Locust, no gevent: a plain CLI

        return compare(args[1:])
    if args[:1] == ["routes"]:
        from chanload.discover.command import main as routes  # no Locust either; Django imported from the app

        return routes(args[1:])
    if args[:1] == ["har"]:
        from chanload.discover.cli import main as har  # no Locust either

        return har(args[1:])
    if args and args[0] not in ("-h", "--help"):
        sys.stderr.write(
            f"python -m chanload: unknown command {args[0]!r}; use `python -m chanload --help` for the load"
            " options, `python -m chanload compare BASE NEW` to compare two runs, `python -m chanload routes`"
            " to list an app's websocket routes or `python -m chanload har FILE.har` to turn a recording into a"
            " config file\n"
        )
        return 2
    from locust.argument_parser import get_parser

    from chanload.locust import plugin  # noqa: F401 - registers the options

    parser = get_parser()
    parser.prog = "locust -f loadtests/ws.py"
    parser.print_help(sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
