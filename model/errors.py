"""Errors of the model core; the CLI and the API map each to one clear message."""


class ModelError(Exception):
    """Base of the model package's errors."""


class InvalidWindowError(ModelError, ValueError):
    """A price window that cannot be forecast (wrong length, NaN, non-positive...)."""


class ModelNotFoundError(ModelError, LookupError):
    """No registered model matches the requested alias or version."""


class TrainingError(ModelError):
    """Training data or settings that cannot give a model."""


class NotEnoughDataError(ModelError, ValueError):
    """Too few closes to fill a window, or an empty split or range."""
