"""`python -m poolpipe.cli`."""

import sys

from poolpipe.cli import main

sys.exit(main())
