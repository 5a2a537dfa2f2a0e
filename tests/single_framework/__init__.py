"""Tests that run in an environment holding one framework only (``make test-torch-only`` / ``make test-tf-only``)."""
