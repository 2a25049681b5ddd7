"""What the tests import (fixtures are in ``tests/conftest.py``): shared inputs, the proofs' reference."""

from __future__ import annotations

from pathlib import Path

# The repository's root, for tests that read its files (figures/, notebooks/, docs/, ...): one place that
# knows how deep this file lies, so a test file moved to another folder reads the same files.
REPOSITORY = Path(__file__).resolve().parents[2]
