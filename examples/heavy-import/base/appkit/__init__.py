"""appkit: the project under review.  Importing it should be cheap: CLIs, workers and
every test session import it."""

from . import api, util

__all__ = ["api", "util"]
