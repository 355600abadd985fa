"""The research folder is not installed: put the repository's root at the END of sys.path.

Appended, not prepended, so that ``sklearn_hallu`` still comes from where it was
installed (site-packages in CI) and only ``research`` is found in the checkout.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
