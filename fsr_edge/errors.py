"""User-facing errors: one line that names the thing and the problem, shown without a traceback by the CLI."""

from __future__ import annotations


class FsrEdgeError(Exception):
    """An error the user can act on. ``str(err)`` is the one line the CLI prints."""


class ImageError(FsrEdgeError):
    """An input image cannot be used (unreadable, truncated, too large, wrong size...)."""


class WeightsError(FsrEdgeError):
    """A weights file is missing, corrupt, truncated or for another architecture."""


class ConfigError(FsrEdgeError):
    """A recipe config or a command-line option is wrong."""
