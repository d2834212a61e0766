"""sfsim: a standalone simulator of the Salesforce endpoints Org Portal uses (OAuth, identity, REST).

Run it with ``python -m sfsim --port 8765``; drive it from tests with ``sfsim.testing.start_simulator``.
"""

__version__ = "0.1.0"
