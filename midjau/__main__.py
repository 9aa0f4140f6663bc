"""Run the command line as ``python -m midjau``."""

import sys

from midjau.cli import main

sys.exit(main())
