"""``python -m s2mlib.cli ...``: the same as ``s2m ...``."""

import sys

from . import main

sys.exit(main())
