"""`python -m perfgate`: the same as the `perfgate` command."""

import sys

from .cli import main

sys.exit(main())
