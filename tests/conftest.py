# SPDX-License-Identifier: LGPL-2.1-or-later
import sys
from pathlib import Path

# The test bed harness (testbed/) is a top-level package of the repository.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
