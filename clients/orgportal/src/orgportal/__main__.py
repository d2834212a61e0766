"""`python -m orgportal`, and the entry point of the single-file download (a zipapp)."""

import sys

from orgportal.cli import main

sys.exit(main())
