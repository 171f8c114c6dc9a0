"""A plan written out: a Locust config file of --ws-* options, or a `WsUser` locustfile; each checked before it is.

The config file is read back as Locust reads config files (configargparse's parser, the one Locust falls back
to for a file that is not TOML) and its values validated by `chanload.run.settings.settings_from`, as a run
would at start-up: an inference the options cannot take fails here, naming the option, not at load time.
Every secret value of the recording (`Har.secrets`) is kept out of what is written.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile

import configargparse

from chanload.discover.har import Har, HarError
from chanload.discover.infer import Plan, Step
from chanload.exceptions import OptionError
from chanload.run.settings import settings_from

CREDENTIALS = "users.csv"


def _login_lines(plan: Plan) -> list[str]:
    login = plan.socket.login
    if login is None:
        return []
    if login.field is not None:
        where = f"its query string ({login.query})" if login.query else "a header"
        return [
            f"# The recording logged in at {login.path} for a token (the answer's {login.field!r}) its upgrade carried",
            f"# in {where}. Options log in with a form only: for a token per user, write a WsUser with",
            "# python -m chanload har ... --python loadfile.py (its log_in takes the token), or fill in one below.",
        ]
    lines = [
        f"# The recording logged in at {login.path} (a form POST) and its upgrade carried the {login.cookie} cookie",
        f"# that answer set. Fill in {CREDENTIALS}: username,password lines of accounts the app has, one per user.",
        f"login-url = {login.path}",
        f"credentials = {CREDENTIALS}",
    ]
    if login.cookie != "sessionid":
        lines.append(f"login-cookie = {login.cookie}")
    return lines


def _fill_in_lines(plan: Plan, har: Har, prefix: str) -> list[str]:
    """Credentials the recording sent that no login of it explains: commented out, to fill in."""
    socket, lines = plan.socket, []
    names = [n for n in socket.cookie_names if "csrf" not in n.lower()]  # a CSRF cookie is no credential
    if names and socket.login is None:
        cookies = "; ".join(f"{name}=FILL_IN" for name in names)
        lines += [
            f"{prefix}The upgrade carried the cookies {', '.join(names)}, and no login in the recording set them: give",
            f"{prefix}each user its own (a --login-url login), or one value for every user here:",
            f"{prefix}ws-header = {json.dumps(['Cookie: ' + cookies])}",
        ]
    auth = socket.header("Authorization")
    if auth:
        scheme = auth.split()[0] if " " in auth else ""
        lines += [
            f"{prefix}The upgrade carried an Authorization header: fill in the credential (not written here).",
            f"{prefix}ws-header = {json.dumps([f'Authorization: {scheme} FILL_IN'.replace('  ', ' ')])}",
        ]
    tokens = [name for name, value in socket.query if value in har.secrets]
    if tokens:
        query = "&".join(f"{name}=FILL_IN" for name in tokens)
        lines += [
            f"{prefix}The URL carried {', '.join(tokens)} in its query string (left out of ws-path): fill in, e.g.",
            f"{prefix}ws-path = {plan.path}?{query}",
        ]
    return lines


def config(plan: Plan, har: Har, source: str) -> str:
    """The Locust config file for `plan` (HarError when the options cannot say it), validated."""
    if plan.problem or plan.steady is None:
        raise HarError(
            f"{plan.socket.shown}: {plan.problem or 'no repeated message'}. Write a WsUser locustfile instead:"
            f" python -m chanload har {source} --python loadfile.py"
        )
    lines = [
        f"# Written by `python -m chanload har {os.path.basename(source)}` from {plan.socket.shown}.",
        "# Run: locust -f loadtests/ws.py --config THIS_FILE, or with your own locustfile",
        "# (a chanload WsUser class). Command-line options override these lines.",
        f"host = {plan.socket.host}",
        f"ws-path = {plan.path}",
    ]
    if plan.groups:
        lines += [
            "# The room the recording used (the id in its path): give your app's range or names, e.g. 1-500.",
            f"ws-groups = {plan.groups}",
        ]
    if plan.subprotocols:
        lines.append(f"ws-subprotocol = {json.dumps(list(plan.subprotocols))}")
    if plan.opening:
        lines.append("# Opening steps after every connect, each its own row (WS message NAME).")
        lines.append(f"ws-open = {json.dumps([_step_text(s) for s in plan.opening], ensure_ascii=False)}")
    steady = plan.steady
    lines.append(f"ws-payload = {steady.send}")
    if steady.match:
        lines.append(f"ws-match = {steady.match}")
    lines.append(f"ws-expect = {steady.expect}")
    if plan.other:
        lines.append("# Frames that answered no message came among the replies: skipped and counted.")
        lines.append("ws-other = skip")
    if plan.think:
        lines.append("# The recorded gaps between a reply and the next message, in seconds.")
        lines.append(f"ws-think = {plan.think}")
    lines += _login_lines(plan) + _fill_in_lines(plan, har, "# ")
    text = _masked(plan, har, "\n".join(lines) + "\n")
    validate(text)
    return text


def _step_text(step: Step) -> str:
    return f"[{step.name}] {step.send}" + (f" => {step.expect}" if step.expect else "")


def _masked(plan: Plan, har: Har, text: str) -> str:
    if har.leaks(text):
        plan.notes.append(
            "a value the recording carried as a credential (a cookie, a token, a password) was in a frame: it is "
            "written FILL_IN; put your own there"
        )
        text = har.mask(text)
    return text


def validate(text: str) -> dict:
    """Read a config file as Locust does and check its --ws-* values as a run's start would; OptionError if wrong."""
    values = configargparse.DefaultConfigFileParser().parse(io.StringIO(text))
    for key in ("ws-payload", "ws-expect", "ws-match", "ws-path", "ws-think", "login-url"):
        if isinstance(values.get(key), list):
            raise OptionError(
                f"--{key}: a config file reads a value that starts with [ as a list; this one cannot be written"
                " there: give it on the command line, or write a WsUser locustfile (--python)"
            )
    return check(values)


def check(values: dict) -> dict:
    """The options (config-file keys -> values) checked by `settings_from`, as a run's start checks them."""
    ns = argparse.Namespace(**{key.replace("-", "_"): value for key, value in values.items()})
    ns.ws_open = json.dumps(values.get("ws-open", []))  # the option's own form (chanload.locust.options.StepsText)
    ns.ws_subprotocol = ",".join(values.get("ws-subprotocol", []))
    with tempfile.TemporaryDirectory(prefix="chanload-har-") as tmp:
        if getattr(ns, "credentials", ""):  # the file is the user's to fill in: check the rest with one account
            ns.credentials = os.path.join(tmp, CREDENTIALS)
            with open(ns.credentials, "w") as f:
                f.write("someone,something\n")
        settings_from(ns, values.get("host"))
    return dict(values)


def python(plan: Plan, har: Har, source: str) -> str:
    """A WsUser locustfile replaying the recorded conversation: its opening, then each kind of message in turn."""
    if not plan.steps:
        raise HarError(f"{plan.socket.shown}: no message to write a user for")
    for step in [*plan.opening_py, *plan.steps]:
        check({"host": plan.socket.host, "ws-payload": step.send, "ws-expect": step.expect or "OK"})
    login = plan.socket.login
    lines = [
        f'"""A WsUser by `python -m chanload har {os.path.basename(source)} --python`, from {plan.socket.shown}.',
        "",
        "    locust -f THIS_FILE"
        + (f" --credentials {CREDENTIALS}" if login else "")
        + (f" --login-cookie {login.cookie}" if login and login.cookie not in ("", "sessionid") else ""),
        "",
        "After every connect it runs the recording's opening, then sends each kind of message the page sent,",
        'in turn, each its own row (`WS message NAME`). Edit freely: this is a start, not a contract."""',
        "",
        "from locust import between, task",
        "",
        "from chanload import WsUser",
        "",
        "",
        "class RecordedUser(WsUser):",
        f"    host = {plan.socket.host!r}",
        f"    route = {plan.path!r}",
    ]
    if plan.groups:
        lines.append(f"    groups = {plan.groups!r}  # the room the recording used: give your app's range or names")
    if plan.subprotocols:
        lines.append(f"    subprotocols = {plan.subprotocols!r}")
    lines.append(f"    other = {'skip' if plan.other else 'fail'!r}")
    if login:
        lines.append(
            f"    login_url = {login.path!r}  # accounts: --credentials {CREDENTIALS} (username,password lines)"
        )
    low, _, high = (plan.think or "0.5-1.5").partition("-")
    lines.append(f"    wait_time = between({float(low)!r}, {float(high or low)!r})  # the recorded gaps")
    lines += [f"    {line}" for line in _fill_in_lines(plan, har, "# ")]
    if login and login.field is not None:
        data = f"{{{login.fields[0]!r}: username, {login.fields[-1]!r}: password}}"
        where = f"query={login.query!r}" if login.query else f"header={login.header!r}"
        form = ", form=True" if login.form else ""
        lines += [
            "",
            "    def log_in(self, url, username, password, cookie):",
            f"        # As recorded: POST the account to {login.path}, the token from the answer's {login.field!r}.",
            f"        self.ws.login_token(url, {data}, field={login.field!r}, {where}{form}, defer=True)",
        ]
    lines += ["", "    @task", "    def conversation(self):", "        ws = self.ws", "        if not ws.connected:"]
    lines.append("            ws.connect()" + (" # logs in first" if login else ""))
    lines += [_call(step, "            ") for step in plan.opening_py]
    lines += [_call(step, "        ") for step in plan.steps]
    text = _masked(plan, har, "\n".join(lines) + "\n")
    compile(text, "loadfile.py", "exec")
    return text


def _call(step: Step, indent: str) -> str:
    if step.expect is None:
        return f"{indent}ws.send({step.send!r}, step={step.name!r})"
    return f"{indent}ws.request({step.send!r}, {step.expect!r}, step={step.name!r})"
