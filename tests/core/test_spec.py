"""BlockSpec: the numbers of a block, validated at construction."""

import dataclasses
import re

import pytest

from blocks import BlockSpec
from blocks.core.spec import check_input_size


def test_width_is_one_path_and_grouped_channels_is_all_paths() -> None:
    spec = BlockSpec(256, 256, cardinality=32, width=4)  # the paper's "32x4d"
    assert (spec.width, spec.grouped_channels) == (4, 128)


@pytest.mark.parametrize(
    ("spec", "projection"),
    [
        (BlockSpec(256, 256, 32, 4), False),
        (BlockSpec(256, 256, 32, 4, stride=2), True),
        (BlockSpec(64, 256, 32, 4), True),
        (BlockSpec(64, 256, 32, 4, stride=2), True),
    ],
    ids=["same-shape", "stride-2", "channels-change", "both"],
)
def test_projection_exactly_when_identity_does_not_fit(spec: BlockSpec, projection: bool) -> None:
    assert spec.has_projection is projection


def test_spec_is_frozen() -> None:
    spec = BlockSpec(64, 64, 4, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 16  # type: ignore[misc]


VALID = dict(in_channels=64, out_channels=64, cardinality=4, width=8, stride=1)
INVALID = [
    ("in_channels", 0),
    ("in_channels", -64),
    ("out_channels", 2.5),
    ("out_channels", "256"),
    ("cardinality", 0),
    ("cardinality", True),
    ("width", None),
    ("width", -4),
    ("stride", 3),
    ("stride", 0),
    ("stride", 1.0),
    ("stride", True),
]


@pytest.mark.parametrize(("field", "value"), INVALID, ids=[f"{f}={v!r}" for f, v in INVALID])
def test_invalid_value_names_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be .*, got {re.escape(repr(value))}$"):
        BlockSpec(**{**VALID, field: value})


@pytest.mark.parametrize("size", [(1, 3, 224, 224), (8, 16)], ids=["image-batch", "two-dims"])
def test_input_size_is_checked_and_returned(size: tuple[int, ...]) -> None:
    assert check_input_size(size) == size


@pytest.mark.parametrize(
    "size",
    [[1, 3, 8, 8], (4,), (1, 3, 0, 8), (1, 3, 8.0, 8), (True, 3, 8, 8)],
    ids=["list", "one-dim", "zero", "float", "bool"],
)
def test_bad_input_size_is_named(size: object) -> None:
    expected = f"input_size must be a tuple of positive ints starting with the batch size, got {size!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        check_input_size(size)
