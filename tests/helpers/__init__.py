"""Helpers shared by the tests: tiny configs and informative weights, twin models, tolerances, fixtures."""
