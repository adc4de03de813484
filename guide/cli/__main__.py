"""`python -m guide.cli …` (the tests and the bench start the CLI this way)."""

import sys

from guide.cli import main

sys.exit(main())
