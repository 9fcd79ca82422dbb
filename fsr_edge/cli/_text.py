"""Help text is read in a terminal: module docstrings double as argparse descriptions, so their reStructuredText
markup (double backquotes, :func:`name` roles) is turned into plain text before argparse shows it."""

from __future__ import annotations

import argparse
import re

_ROLE = re.compile(r":(?:py:)?[a-z]+:`~?([^`]+)`")      # :func:`export_student` -> export_student
_LITERAL = re.compile(r"``([^`]+?)``")                   # ``dist/`` -> dist/


def plain_text(text: str | None) -> str | None:
    if not text:
        return text
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def plain_help(parser: argparse.ArgumentParser) -> None:
    """Plain-text description, epilog and option help for ``parser`` and every subcommand under it."""
    parser.description = plain_text(parser.description)
    parser.epilog = plain_text(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_text(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # the one-line help in `fsr-edge --help`
                choice.help = plain_text(choice.help)
            for sub in action.choices.values():
                plain_help(sub)
