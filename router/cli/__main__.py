"""``python -m router.cli``."""

import sys

from . import main

sys.exit(main())
