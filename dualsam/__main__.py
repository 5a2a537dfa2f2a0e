"""``python -m dualsam``: the same as the ``dualsam`` command."""

import sys

from .cli import main

sys.exit(main())
