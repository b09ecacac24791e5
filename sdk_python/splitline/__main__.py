"""`python -m splitline` runs the CLI."""

import sys

from splitline.cli import main

sys.exit(main())
