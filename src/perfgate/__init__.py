"""perfgate: a performance regression gate for pull requests."""

__version__ = "0.1.0"
