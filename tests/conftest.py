"""Shared test helpers: the specs every proof runs over, and small utilities."""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import Phase, settings
from torch import nn

from blocks import BlockSpec
from blocks.bench import fixed_threads

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


# Specs every equivalence proof runs over: cardinality 1 (plain ResNet bottleneck),
# widths that are not powers of two, stride 1 and 2, identity and projection shortcuts.
SPECS = [
    BlockSpec(256, 256, cardinality=32, width=4),  # ResNeXt-50 conv2 block, identity
    BlockSpec(64, 256, cardinality=32, width=4),  # first block of conv2: projection, stride 1
    BlockSpec(256, 512, cardinality=32, width=8, stride=2),  # first block of conv3
    BlockSpec(16, 16, cardinality=1, width=7),  # cardinality 1: ResNet's bottleneck
    BlockSpec(12, 20, cardinality=3, width=5, stride=2),
    BlockSpec(24, 24, cardinality=6, width=3, stride=2),  # stride 2 with equal channels
]


def spec_id(spec: BlockSpec) -> str:
    return f"{spec.in_channels}-{spec.out_channels}_{spec.cardinality}x{spec.width}d_s{spec.stride}"


@pytest.fixture(params=SPECS, ids=spec_id)
def spec(request: pytest.FixtureRequest) -> BlockSpec:
    return request.param


# Every direction a transplant can go between two forms, source -> target: a->b, a->c, b->a, b->c, c->a, c->b.
DIRECTIONS = list(itertools.permutations("abc", 2))


def direction_id(direction: tuple[str, str]) -> str:
    return "->".join(direction)


@pytest.fixture(params=DIRECTIONS, ids=direction_id)
def direction(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small inputs: one thread avoids OpenMP start-up and contention costs that dwarf the work."""
    with fixed_threads(1):
        yield


def random_input(spec: BlockSpec, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    """A batch of 4 random 8x8 images: enough values per channel for train-mode BN."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(4, spec.in_channels, 8, 8, generator=generator).to(dtype)


def freeze_batch_norms(module: nn.Module) -> nn.Module:
    """Put every BN of ``module`` in eval mode, as fine-tuning does: they normalise with their running statistics."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.eval()
    return module
