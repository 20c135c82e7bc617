"""What runs outside Lambda. The tools use the layer's code, so its folder is importable from any
tool, as Lambda makes the layer importable for the functions."""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "connectors")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
