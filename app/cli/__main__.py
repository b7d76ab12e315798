"""``python -m app.cli``: the command line."""

import sys

from app.cli.main import main

sys.exit(main())
