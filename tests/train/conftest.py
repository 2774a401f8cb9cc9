"""Make the helper module ``train_toys`` (tiny tasks) importable from the tests of this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
