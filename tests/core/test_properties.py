"""Properties of the weight layout and the transplant, over random specs, forms and tensors (hypothesis).

- any chain of transplants that ends in the form it started from gives back every tensor bit for bit;
- ``to_canonical`` and ``from_canonical`` are inverse to each other on random tensors, and the
  cut puts path i's numbers where the paper's layout has them (read by hand, ``tests/helpers/reference.py``);
- ``build(spec, form)`` under one seed is ``transplant(build(spec, other), form)`` under the same seed.

The specs are small (a few channels, up to 5 paths) so that every example takes milliseconds.
"""

from __future__ import annotations

import re

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from blocks import FORMS, BlockSpec, ResNeXtBlock, build, transplant
from blocks.core.canonical import from_canonical, to_canonical

from tests.helpers.reference import assert_agree, independent_block, tensors_by_path

PROPERTY_SETTINGS = settings(max_examples=30, deadline=None)  # deadline: the first example imports and caches

SPECS = st.builds(
    BlockSpec,
    in_channels=st.integers(1, 12),
    out_channels=st.integers(1, 12),
    cardinality=st.integers(1, 5),
    width=st.integers(1, 4),
    stride=st.sampled_from([1, 2]),
)
FORM_NAMES = st.sampled_from("abc")
SEEDS = st.integers(0, 2**16)


def empty_block(spec: BlockSpec, form: str) -> ResNeXtBlock:
    """A ``form`` block of ``spec`` on the meta device: its layout (keys and shapes), no values."""
    with torch.device("meta"):
        return FORMS[form](spec)


def random_state(spec: BlockSpec, form: str, seed: int) -> dict[str, Tensor]:
    """Random tensors keyed and shaped as a ``form`` block's state_dict.

    Floats ~ N(0, 1); each BN counter a random int, the same in every path of one layer
    (as a real block's are: its paths are updated together).
    """
    generator = torch.Generator().manual_seed(seed)
    counters: dict[str, Tensor] = {}
    state = {}
    for key, like in empty_block(spec, form).state_dict().items():
        if like.is_floating_point():
            state[key] = torch.randn(like.shape, generator=generator, dtype=torch.float64)
        else:
            layer = re.sub(r"^paths\.\d+\.", "", key)  # paths.i.bn1.num_batches_tracked -> bn1.num_batches_tracked
            counters.setdefault(layer, torch.randint(0, 1000, (), generator=generator))
            state[key] = counters[layer].clone()
    return state


def holding(spec: BlockSpec, form: str, state: dict[str, Tensor]) -> ResNeXtBlock:
    """A ``form`` block that holds ``state``'s tensors themselves (PyTorch's own loading, no transplant)."""
    block = empty_block(spec, form)
    block.load_state_dict(state, strict=True, assign=True)
    return block


@PROPERTY_SETTINGS
@given(
    spec=SPECS,
    start=FORM_NAMES,
    chain=st.lists(FORM_NAMES, min_size=1, max_size=4),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16]),
    seed=SEEDS,
)
def test_any_chain_of_transplants_back_to_the_start_is_bitwise(
    spec: BlockSpec, start: str, chain: list[str], dtype: torch.dtype, seed: int
) -> None:
    source = independent_block(spec, start, seed).to(dtype)
    block = source
    for form in [*chain, start]:
        block = transplant(block, form)
    assert type(block) is type(source)
    assert_agree(block.state_dict(), source.state_dict(), rtol=0)


@PROPERTY_SETTINGS
@given(spec=SPECS, form=FORM_NAMES, seed=SEEDS)
def test_cut_then_gather_gives_back_the_canonical_tensors(spec: BlockSpec, form: str, seed: int) -> None:
    canonical = random_state(spec, "c", seed)
    keys = list(empty_block(spec, form).state_dict())
    cut = from_canonical(canonical, keys, spec.width)
    assert list(cut) == keys
    assert_agree(to_canonical(cut), canonical, rtol=0)
    # And the cut is the paper's layout: path i's tensors are where they are in form (c), read by hand.
    assert_agree(tensors_by_path(holding(spec, form, cut)), tensors_by_path(holding(spec, "c", canonical)), rtol=0)


@PROPERTY_SETTINGS
@given(spec=SPECS, form=FORM_NAMES, seed=SEEDS)
def test_gather_then_cut_gives_back_the_state(spec: BlockSpec, form: str, seed: int) -> None:
    state = random_state(spec, form, seed)
    canonical = to_canonical(state)
    assert_agree(from_canonical(canonical, list(state), spec.width), state, rtol=0)
    assert_agree(tensors_by_path(holding(spec, "c", canonical)), tensors_by_path(holding(spec, form, state)), rtol=0)


@PROPERTY_SETTINGS
@given(spec=SPECS, form=FORM_NAMES, other=FORM_NAMES, seed=SEEDS, zero_init_last_bn=st.booleans())
def test_build_under_one_seed_is_the_transplant_of_another_form(
    spec: BlockSpec, form: str, other: str, seed: int, zero_init_last_bn: bool
) -> None:
    built = {}
    for name in (form, other):
        torch.manual_seed(seed)
        built[name] = build(spec, name, zero_init_last_bn=zero_init_last_bn)
    assert_agree(transplant(built[other], form).state_dict(), built[form].state_dict(), rtol=0)
