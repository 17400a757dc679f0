"""`python -m mipo_bench.cli ...` (what `accelerate launch -m mipo_bench.cli` runs)."""

import sys

from .main import main

sys.exit(main())
