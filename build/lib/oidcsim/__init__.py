"""oidcsim: a standalone fake OIDC issuer (GitHub Actions-, GitLab- and custom-shaped) for tests and demos.

Run it with ``python -m oidcsim --port 0``; drive it from tests with ``oidcsim.testing.start_issuer``.
"""

__version__ = "0.1.0"
