"""Errors of the price sources; the CLI turns each into one line."""


class SourceError(ValueError):
    """A source spec, file or request that cannot give prices."""


class SourceUnavailable(SourceError):
    """The source is out of reach (e.g. no network); an offline source would work."""
