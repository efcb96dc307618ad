"""``python -m qsys.restd``: the same as ``qsys-restd``."""

import sys

from qsys.restd.main import main

sys.exit(main())
