"""Importable test support: database plumbing and the builders and constants tests share.

Fixtures live in tests/plugin.py (registered once by tests/conftest.py) and in each area's
conftest.py; tests import plain helpers from here, never from a conftest.
"""
