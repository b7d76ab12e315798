"""``python -m app``: the ``patchdesk`` command line."""

import sys

from app.cli.entry import main

sys.exit(main())
