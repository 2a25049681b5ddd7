"""Old import paths that still work: each module that moved leaves a stub that warns and hands over."""

from __future__ import annotations

import importlib
import sys
import warnings


def moved(old: str, new: str) -> None:
    """Make the module ``old`` (being imported now) the module ``new``, with a DeprecationWarning naming it."""
    warnings.warn(f"{old} has moved to {new}; import it from there", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
