"""``python -m weights_convert SRC DST [...]``: the same as ``dualsam convert``."""

import sys

from .cli import main

sys.exit(main())
