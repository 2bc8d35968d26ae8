"""Allow ``python -m spectromer``."""

import sys

from spectromer.cli import main

sys.exit(main())
