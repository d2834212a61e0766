"""orgportal: the Org Portal command line (standard library only). The code is in orgportal.cli."""

__version__ = "0.2.0"
