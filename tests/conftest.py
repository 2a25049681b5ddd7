"""Fixtures every test folder shares, the hypothesis profile of `make mutants`, and the order of its tests.

What tests import (specs, directions, the reference) is in ``tests/helpers/``: a conftest is never imported.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from blocks import BlockSpec
from blocks.bench import fixed_threads

from tests.helpers.cases import DIRECTIONS, SPECS, direction_id, spec_id

# `make mutants` runs the tests against hundreds of mutants (pytest --hypothesis-profile=mutants):
# the same examples every time, so that a mutant's verdict is repeatable, and no shrinking of a failure.
settings.register_profile("mutants", derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `make mutants`, run the fastest tests first, so that a mutant a fast test kills costs little.

    mutmut records every test's duration in ``mutmut-stats.json`` (in its working folder, where
    the tests of a mutant run); its fork server hands a mutant's tests over in no particular order.
    """
    stats = Path("mutmut-stats.json")
    if "MUTANT_UNDER_TEST" not in os.environ or not stats.is_file():
        return
    durations = json.loads(stats.read_text())["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, math.inf))


@pytest.fixture(params=SPECS, ids=spec_id)
def spec(request: pytest.FixtureRequest) -> BlockSpec:
    return request.param


@pytest.fixture(params=DIRECTIONS, ids=direction_id)
def direction(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small inputs: one thread avoids OpenMP start-up and contention costs that dwarf the work."""
    with fixed_threads(1):
        yield
