"""Reference implementations run out of process (Meta's segment-anything in .venv-meta)."""
