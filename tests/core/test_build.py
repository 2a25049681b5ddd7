"""build's estimate of what a block needs, and the refusal of a block that cannot fit, made before anything is."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch

import blocks
from blocks.core.guards import MEMORY_CAP, Footprint, footprint, memory_limit

from tests.helpers.cases import SPECS, spec_id

# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.


# --- sizes that cannot fit: estimated first, refused with the estimate ---------------------------


@pytest.mark.parametrize("form", sorted(blocks.FORMS))
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_footprint_is_the_built_blocks(spec: blocks.BlockSpec, form: str) -> None:
    with torch.device("meta"):
        block = blocks.build(spec, form)
    assert footprint(spec, form) == Footprint(
        values=sum(t.numel() for t in block.state_dict().values()), modules=len(list(block.modules()))
    )


TOO_BIG: dict[str, tuple[Callable[[], object], str]] = {
    "build-a-C=1e5": (
        lambda: blocks.build(blocks.BlockSpec(256, 256, 10**5, 4), "a"),
        r"build: the block 256->256, 100000x4d, stride 1 in form 'a' would make 700,004 modules,"
        r" over the limit of 50,000",
    ),
    "build-c-C=1e9": (
        lambda: blocks.build(blocks.BlockSpec(256, 256, 10**9, 4), "c"),
        r"build: the block 256->256, 1000000000x4d, stride 1 in form 'c', 2,224,000,001,027 parameters"
        r" and buffers, would need about 8,285.0 GiB, over the limit of",
    ),
    "build-channels-1e7": (
        lambda: blocks.build(blocks.BlockSpec(10**6, 10**7, 32, 4), "c"),  # the projection: 10^13 weights
        r"10,001,488,005,636 parameters and buffers, would need about 37,258.4 GiB",
    ),
}


@pytest.mark.parametrize(("make", "message"), TOO_BIG.values(), ids=TOO_BIG.keys())
def test_what_cannot_fit_is_refused_with_the_estimate(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.skipif(not hasattr(os, "sysconf"), reason="sysconf is POSIX: elsewhere the cap alone applies")
def test_the_memory_limit_is_half_the_machine_or_the_cap() -> None:
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = memory_limit()
    assert type(limit) is int
    assert limit == min(MEMORY_CAP, physical // 2)


def test_the_memory_limit_does_not_apply_on_the_meta_device() -> None:
    spec = blocks.BlockSpec(256, 256, 10**9, 4)  # 8,285.0 GiB in float32
    with torch.device("meta"):
        block = blocks.build(spec, "c")
    assert block.conv2.weight.shape == (4 * 10**9, 4, 3, 3)
    with pytest.raises(ValueError, match="modules"), torch.device("meta"):  # modules are Python objects anywhere
        blocks.build(blocks.BlockSpec(256, 256, 10**5, 4), "a")
