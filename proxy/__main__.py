"""``python -m rowgate.proxy`` is the ``rowgate`` command."""

import sys

from rowgate.proxy.cli import main

sys.exit(main())
