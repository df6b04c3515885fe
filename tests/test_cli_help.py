"""Every command's help says what each option does and, where it has one, its default."""

from __future__ import annotations

import argparse

import pytest

from handover_miaw.cli import _parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    missing = []
    for action in _commands()[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help:
            missing.append(f"{name}: no help")
        elif action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in action.help:
            missing.append(f"{name}: default {action.default!r} not shown")
    assert missing == []
