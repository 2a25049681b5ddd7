"""Fixtures every test folder shares, the hypothesis profile of `make mutants`, and the order of its tests.

What tests import (specs, directions, the reference) is in ``tests/helpers/``: a conftest is never imported.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from blocks import BlockSpec
from blocks.bench import fixed_threads

from tests.helpers.cases import DIRECTIONS, SPECS, direction_id, spec_id

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TESTS = Path(__file__).resolve().parent
# `make mutants` runs the tests marked `mutation` ([tool.mutmut] in pyproject.toml): every test of these
# folders, the tests of blocks/core and blocks/models, whose code it mutates; elsewhere, the tests marked by hand.
MUTATION_FOLDERS = ("core", "models")

# `make mutants` runs the tests against hundreds of mutants (pytest --hypothesis-profile=mutants):
# the same examples every time, so that a mutant's verdict is repeatable, and no shrinking of a failure.
settings.register_profile("mutants", derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark every test of :data:`MUTATION_FOLDERS` ``mutation``: a new or renamed test there is selected too."""
    path = Path(item.path)
    if path.is_relative_to(TESTS) and path.relative_to(TESTS).parts[0] in MUTATION_FOLDERS:
        item.add_marker(pytest.mark.mutation)


def _mutation_selection(config: pytest.Config) -> list[str]:
    """The paths of ``[tool.mutmut] pytest_add_cli_args_test_selection``, relative to the root."""
    with open(config.rootpath / "pyproject.toml", "rb") as file:
        selection = tomllib.load(file)["tool"]["mutmut"]["pytest_add_cli_args_test_selection"]
    return [entry.split("::")[0].rstrip("/") for entry in selection]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a ``mutation`` mark that ``make mutants`` would not see; under it, run the fastest tests first.

    A test marked ``mutation`` outside the folders that ``[tool.mutmut]`` collects would drop out of
    the selection without a word: every run of the tests says so instead.

    mutmut records every test's duration in ``mutmut-stats.json`` (in its working folder, where
    the tests of a mutant run); its fork server hands a mutant's tests over in no particular order,
    so a mutant that a fast test kills costs little if the fast tests run first.
    """
    marked = [item for item in items if item.get_closest_marker("mutation")]
    if marked:
        folders = _mutation_selection(config)
        for item in marked:
            where = Path(item.path).resolve().relative_to(config.rootpath.resolve()).as_posix()
            if not any(where == folder or where.startswith(folder + "/") for folder in folders):
                raise pytest.UsageError(
                    f"{item.nodeid} is marked mutation, but [tool.mutmut] in pyproject.toml collects only"
                    f" {folders}: add its folder there, or take the mark off"
                )
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
