"""Errors that reach the user as one clear line (the CLI prints ``error: <message>``, never a traceback)."""


class StealguardError(Exception):
    """Base class of every error whose message is meant for the user."""


class DataError(StealguardError):
    """A dataset is missing, has the wrong layout, or holds a corrupt image or a bad label."""


class ModelFileError(StealguardError):
    """A model file is refused (pickle), malformed, or does not match its metadata."""


class AccessDenied(StealguardError):
    """A suspect's access level does not allow what was asked (e.g. probabilities from a labels-only suspect)."""


class QueryBudgetExceeded(StealguardError):
    """A suspect's query budget would be exceeded by the next query."""


class RemoteError(StealguardError):
    """A prediction API could not be reached, refused the query, or answered something invalid."""


class ConfigError(StealguardError):
    """A setting is out of range or of the wrong kind."""


def require_at_least_one(settings, *names: str) -> None:
    """Raise a one-line ConfigError unless every field ``names`` of ``settings`` is >= 1 (counts, sizes, epochs)."""
    for name in names:
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(settings, name)}")
