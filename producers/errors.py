"""Errors of the price sources."""

from core.errors import InputError, UnavailableError


class SourceError(InputError):
    """A source spec, file or request that cannot give prices."""


class SourceUnavailable(UnavailableError, SourceError):
    """The source is out of reach (e.g. no network); an offline source would work."""
