"""``python -m tinymodel`` runs the command line."""

import sys

from tinymodel.cli import main

sys.exit(main())
