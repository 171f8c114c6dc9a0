"""--login-url, --credentials, --login-cookie: read and checked before any load, never showing a password."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chanload.conversation.login import Accounts
from chanload.exceptions import OptionError
from chanload.run.settings import settings_from

HOST = "ws://127.0.0.1:1234"


def opts(**changes):
    return SimpleNamespace(**{"login_url": "", "credentials": "", "login_cookie": "sessionid", **changes})


def write(tmp_path, text: str) -> str:
    path = tmp_path / "users.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_accounts_are_taken_in_turn_skipping_blank_comment_and_header_lines(tmp_path):
    """User 1 takes line 1, user 2 line 2, ...; CSV quoting keeps a comma or a space in a password."""
    path = write(tmp_path, 'username,password\n\n# staff\nalice,pw1\n bob , "p,w 2"\n"carol",  pw3\n')
    accounts = Accounts.read(path)
    assert len(accounts) == 3
    assert [accounts.next() for _ in range(4)] == [
        ("alice", "pw1"),
        ("bob", "p,w 2"),
        ("carol", "pw3"),
        ("alice", "pw1"),
    ]
    assert repr(accounts) == f"Accounts(3 from {path!r})" and "pw1" not in repr(accounts)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "no username,password lines in it"),
        ("# only a comment\n\nusername,password\n", "no username,password lines in it"),
        ("alice,s3cret\nbob\n", "line 2: expected 'username,password' (two non-empty CSV fields), got 1 field"),
        ("alice,s3cret,extra\n", "line 1: expected 'username,password' (two non-empty CSV fields), got 3 fields"),
        ("alice,\n", "line 1: expected 'username,password' (two non-empty CSV fields), got 2 fields with an empty one"),
    ],
)
def test_a_malformed_credentials_file_is_an_option_error_without_its_contents(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(OptionError) as info:
        settings_from(opts(login_url="/accounts/login/", credentials=path), HOST)
    separator = "" if expected.startswith("line") else ":"
    assert str(info.value) == f"--credentials {path!r}{separator} {expected}"
    assert "s3cret" not in str(info.value)


def test_a_missing_credentials_file_says_so(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(OptionError, match=r"--credentials '.*nope.csv': cannot read it \(No such file or directory\)"):
        settings_from(opts(login_url="/accounts/login/", credentials=path), HOST)


def test_login_url_needs_credentials():
    with pytest.raises(OptionError, match=r"--login-url /accounts/login/: give --credentials FILE too"):
        settings_from(opts(login_url="/accounts/login/"), HOST)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/accounts/login/", "/a b/", "  "])
def test_login_url_is_a_path_on_the_target(tmp_path, url):
    path = write(tmp_path, "alice,pw\n")
    with pytest.raises(OptionError, match="--login-url .*: expected the login page's path on the target's server"):
        settings_from(opts(login_url=url, credentials=path), HOST)


def test_login_cookie_is_a_cookie_name(tmp_path):
    path = write(tmp_path, "alice,pw\n")
    with pytest.raises(OptionError, match=r"--login-cookie 'session id': expected a cookie name"):
        settings_from(opts(login_url="/accounts/login/", credentials=path, login_cookie="session id"), HOST)


def test_settings_hold_the_login_and_their_repr_no_password(tmp_path):
    path = write(tmp_path, "alice,Very-Secret-1\n")
    s = settings_from(opts(login_url="accounts/login/", credentials=path, login_cookie="app_session"), HOST)
    assert (s.login_url, s.login_cookie, len(s.accounts)) == ("/accounts/login/", "app_session", 1)
    assert "Very-Secret-1" not in repr(s)


def test_no_login_options_no_login():
    s = settings_from(opts(), HOST)
    assert (s.login_url, s.accounts, s.login_cookie) == (None, None, "sessionid")
