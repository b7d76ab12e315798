"""PyInstaller entry point of the windowed app."""

import sys

from app.ui.main import main

sys.exit(main())
