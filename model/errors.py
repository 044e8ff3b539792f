"""Errors of the model core."""

from core.errors import InputError, NotFoundError, TickcastError


class ModelError(TickcastError):
    """Base of the model package's errors."""


class InvalidWindowError(ModelError, InputError):
    """A price window that cannot be forecast (wrong length, NaN, non-positive...)."""


class ModelNotFoundError(ModelError, NotFoundError):
    """No registered model matches the requested alias or version."""


class TrainingError(ModelError, InputError):
    """Training data or settings that cannot give a model."""


class NotEnoughDataError(TrainingError):
    """Too few closes to fill a window, or an empty split or range."""


class IncompatibleModelError(ModelError, InputError):
    """A saved model this version of tickcast cannot read."""
