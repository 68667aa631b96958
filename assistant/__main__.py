"""`python -m assistant` runs the command-line interface."""

import sys

from assistant.cli import main

sys.exit(main())
