"""``python -m app``: the ``patchdesk`` command line."""

import sys

from app.cli.main import main

sys.exit(main())
