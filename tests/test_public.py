"""The public face: `chanload.__all__` pinned, lazy (no Locust on `import chanload`), and the older import paths."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import chanload
from chanload import exceptions

pytestmark = pytest.mark.e2e  # starts processes: interpreters, lint-imports, the pages' commands

EXPORTS = {
    "__version__",
    # Locust users and the load shape (their names load Locust on first use)
    "WsUser", "ChannelsUser", "EchoUser", "BroadcastUser", "CapacityShape",
    # The conversation, usable with no Locust runner
    "Session", "TracingSession", "Recording", "Payload", "Expect", "Groups", "ThinkTime", "Schedule", "Settings",
    # Errors
    "ChanloadError", "OptionError", "NotSetUp", "ProtocolError", "WsError", "ConnectionRefused",
    "HandshakeRejected", "HandshakeTimeout", "ReplyTimeout", "WrongReply", "ClosedByServer", "ConnectionLost",
    "StepError", "SubprotocolRejected", "LoginRefused", "MessageTooBig", "CertificateRejected",
}  # fmt: skip


def run(code: str) -> str:
    """Run `code` in a fresh interpreter (this one may have imported anything) and return what it printed."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_exports_are_pinned():
    """Adding or removing a public name is a decision: this list changes with it."""
    assert set(chanload.__all__) == EXPORTS
    assert len(chanload.__all__) == len(EXPORTS)  # no name twice


def test_the_names_for_type_checkers_are_the_exported_ones():
    """The TYPE_CHECKING imports of chanload/__init__.py name each export from the module _EXPORTS gives, no other."""
    tree = ast.parse(Path(chanload.__file__).read_text())
    (block,) = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    named = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert named == chanload._EXPORTS
    assert chanload.__all__ == list(chanload._EXPORTS)


def test_the_version_is_the_installed_one():
    """`chanload.__version__` is the distribution's (pyproject.toml's `version`), as the reports write it."""
    from chanload.reporting import fingerprint, summary

    assert chanload.__version__ == metadata.version("chanload") == summary.__version__ == fingerprint.__version__


def test_every_error_class_is_exported():
    """Every exception a user can meet is reachable as `chanload.<Name>`."""
    errors = {n for n, v in vars(exceptions).items() if isinstance(v, type) and issubclass(v, Exception)}
    assert errors <= set(chanload.__all__)
    for name in errors:
        assert getattr(chanload, name) is getattr(exceptions, name)


def test_import_chanload_patches_nothing():
    """`import chanload`, and the conversation with it, import neither locust nor gevent (which monkey-patch)."""
    out = run(
        """
        import sys
        import chanload
        from chanload import Session, Payload, Expect, WsError, OptionError, Settings
        from chanload.testing import FakeServer
        ws = FakeServer().session()
        ws.connect()
        assert ws.request() == "OK"
        print(sorted(m for m in ("locust", "gevent") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_every_export_resolves_and_the_users_bring_the_wiring():
    """Each name in __all__ loads; a user class brings the --ws-* options without importing chanload.plugin."""
    out = run(
        """
        import sys
        import chanload
        for name in chanload.__all__:
            getattr(chanload, name)
        from locust import events
        from locust.argument_parser import get_parser
        print("chanload.locust.plugin" in sys.modules, "--ws-path" in get_parser().format_help())
        """
    )
    assert out == "True True"


def test_an_unknown_name_is_an_attribute_error():
    """A typo fails as a missing attribute, naming it."""
    try:
        chanload.WsUsr  # noqa: B018
    except AttributeError as exc:
        assert "WsUsr" in str(exc)
    else:
        raise AssertionError("chanload.WsUsr resolved")


def test_locustfiles_written_before_the_layers_still_import():
    """`from chanload import plugin`, `chanload.users` and `chanload.session` keep working."""
    out = run(
        """
        from chanload import plugin
        from chanload.users import WsUser, EchoUser
        from chanload.session import Session
        import chanload
        print(WsUser is chanload.WsUser, Session is chanload.Session, callable(plugin.attach))
        """
    )
    assert out == "True True True"
