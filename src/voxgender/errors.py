"""The package's own exceptions: one line that names the input and the reason."""

from importlib import import_module
from types import ModuleType


class VoxgenderError(Exception):
    """An error the user can cause; ``str(err)`` is a one-line message fit to print as is."""


class AudioError(VoxgenderError):
    """Audio that cannot be decoded or used: empty, truncated, not audio, silent, NaN, too short."""


class ModelError(VoxgenderError):
    """A model directory or file that is missing, incomplete or inconsistent."""


class DataError(VoxgenderError):
    """A corpus, manifest or split that cannot be read or used."""


def import_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """``module``, or a one-line VoxgenderError naming the extra that installs it for ``purpose``."""
    try:
        return import_module(module)
    except ImportError:
        raise VoxgenderError(f"{purpose} needs {module.split('.')[0]}: pip install 'voxgender[{extra}]'") from None
