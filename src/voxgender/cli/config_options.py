"""Command-line options generated from the self-checking config dataclasses.

An option is written once as (flag, field, help): its type, choices and default come from the
field of the config it sets, and the parsed options build that config, which checks the values.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any, Literal, Sequence, TypeVar

Option = tuple[str, str, str]  # (flag, the config field it sets, help)
Config = TypeVar("Config")


def add_config_options(group: argparse._ActionsContainer, defaults: Any, options: Sequence[Option]) -> None:
    """One option per (flag, field, help), with the field's type, choices and default from ``defaults``."""
    hints = typing.get_type_hints(type(defaults))
    for flag, name, help_text in options:
        default, kind = getattr(defaults, name), hints[name]
        if isinstance(default, bool):
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(kind) is Literal:
            group.add_argument(flag, dest=name, choices=typing.get_args(kind), default=default, help=help_text)
        else:
            group.add_argument(flag, dest=name, type=type(default), default=default, help=help_text)


def config_from_args(cls: type[Config], args: argparse.Namespace, options: Sequence[Option], **fields: Any) -> Config:
    """The config that the parsed ``options`` (and any other ``fields``) describe; its own check may raise ValueError."""
    return cls(**{name: getattr(args, name) for _, name, _ in options}, **fields)
