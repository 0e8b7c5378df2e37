"""``python -m proxy`` is the ``rowgate`` command."""

import sys

from proxy.cli import main

sys.exit(main())
