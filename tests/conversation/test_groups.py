"""The pool of rooms: its forms, what it says it holds, and the values a check stands on."""

from __future__ import annotations

import pytest

from chanload.conversation.groups import Groups
from chanload.exceptions import OptionError


def test_a_prefixed_range_names_its_rooms_without_ambiguity():
    """g0-g9 and room1-room50: names with a number, every one of them and nothing else."""
    g = Groups.parse("g0-g9")
    assert {g.pick() for _ in range(500)} == {f"g{i}" for i in range(10)}
    assert not g.bare and not g.integers and g.warning() is None
    room = Groups.parse("room1-room50")
    assert (room.prefix, room.low, room.high, room.size) == ("room", 1, 50, 50)
    assert Groups.parse("g0 - g9").samples == ("g0", "g9")
    with pytest.raises(OptionError, match="PREFIXLOW-PREFIXHIGH needs LOW <= HIGH"):
        Groups.parse("g9-g0")


def test_a_bare_number_warns_saying_what_it_gives_and_how_to_say_each_meaning():
    """`1` is the one room g0, not room 1: the warning names g0..g0, the LOW-HIGH form, and the g0-g0 form."""
    g = Groups.parse("1")
    assert g.bare and g.describe() == "g0..g0 (1 name)"
    assert g.warning() == (
        "--ws-groups 1: {group} takes the names g0..g0 (1 name), not integers; for integer rooms give LOW-HIGH "
        "(e.g. --ws-groups 1-1); --ws-groups g0-g0 gives these names without this warning"
    )
    assert Groups.parse("g0-g0").pick() == g.pick() == "g0"
    assert Groups.parse("1-1").warning() is None and Groups.parse("1-1").pick() == "1"


def test_describe_says_what_the_pool_holds():
    """Integers, names, and a long list cut short."""
    assert Groups.parse("1-500").describe() == "1..500 (500 integers)"
    assert Groups.parse("10").describe() == "g0..g9 (10 names)"
    assert Groups.parse("A,B").describe() == "A, B (2 names)"
    assert Groups.parse("a,b,c,d,e").describe() == "a, b, c, ..., e (5 names)"


def test_samples_stand_for_every_kind_of_value_the_pool_holds():
    """Both ends of a range; for names the first, the last and the first of each JSON kind."""
    assert Groups.parse("1-500").samples == ("1", "500")
    assert Groups.parse("3").samples == ("g0", "g2")
    assert Groups.parse("5-5").samples == ("5",)
    assert Groups.parse("1,2,x,3,true,y").samples == ("1", "x", "true", "y")


def test_the_option_a_pool_came_from_is_kept_for_messages_but_not_compared():
    """A class's pool says so (EchoUser.groups), and equals the same pool given on the command line."""
    mine = Groups.parse("3", "EchoUser.groups")
    assert mine.option == "EchoUser.groups" and mine == Groups.parse("3")
    assert mine.warning() is not None and mine.warning().startswith("EchoUser.groups 3:")
