"""Shared fixtures of the parity suite: test images and twin models (ours and transformers') on the same
informative random weights."""

from __future__ import annotations

import os

# transformers is the torch reference here; keep it from importing TensorFlow (slow, noisy) as well.
os.environ.setdefault("USE_TF", "0")


