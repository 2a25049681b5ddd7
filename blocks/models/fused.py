"""Run a form (a) or (b) block through form (c)'s kernels, keeping its per-path modules.

Form (a) is slow in eager mode for a reason that has nothing to do with
arithmetic: each of its C paths launches its own small kernels (two 1x1 convs,
a 3x3, two BNs, two ReLUs, an add), so a 32-path block makes ~8·32 kernel calls
on d = 4 channels each, and writes C full-size (B, out, H, W) partial sums that
are only there to be added. Form (c) does the same arithmetic in ~8 calls.

:func:`fused_forward` gets (c)'s speed without changing the block: on every
call it gathers the per-path weights into the canonical layout (the same
``torch.cat`` that :func:`blocks.transplant` uses, see :mod:`blocks.core.canonical`)
and runs form (c)'s ``forward`` on them with :func:`torch.func.functional_call`:

    paths.i.conv1.weight (d, in, 1, 1)  ── cat over i ──>  conv1.weight (C·d, in, 1, 1)
    paths.i.conv2.weight (d, d, 3, 3)   ── cat over i ──>  conv2.weight (C·d, d, 3, 3), C groups
    paths.i.conv3.weight (out, d, 1, 1) ── cat over i ──>  conv3.weight (out, C·d, 1, 1)

The concatenation is differentiable, so gradients reach every path's own
parameters, and in train mode the BN running statistics that form (c)'s code
updates are written back into each path's BNs: the block ends up exactly as a
plain ``block(x)`` would leave it, up to rounding (the sum over paths is added
in another order).
"""

from __future__ import annotations

import torch
from torch import Tensor

from blocks.core.build import block_state, empty_block
from blocks.core.canonical import from_canonical, layer_modes, to_canonical
from blocks.core.forms import ResNeXtBlock, check_block


def fused_forward(block: ResNeXtBlock, x: Tensor) -> Tensor:
    """``block(x)`` for a form (a) or (b) block, computed with form (c)'s grouped kernels.

    Args:
        block: a block of any form (a form (c) block is simply called).
        x: its input, (B, in_channels, H, W).

    Returns:
        The block's output (B, out_channels, H/s, W/s), equal to ``block(x)`` up
        to rounding, with gradients flowing to the block's own parameters. In
        train mode the running statistics and counters of every BN are updated
        as ``block(x)`` would update them.

    Example:
        >>> a = blocks.build(blocks.BlockSpec(256, 256, 32, 4), "a").eval()
        >>> x = torch.randn(2, 256, 8, 8)
        >>> torch.allclose(fused_forward(a, x), a(x), atol=1e-5)
        True
    """
    check_block(block, "fused_forward: block")
    if block.form == "c":
        return block(x)
    state = block_state(block)  # Parameters, not detached copies: gradients flow
    canonical = to_canonical(state)  # (C·d, …) tensors, cat of the paths' ones
    # Form (c)'s code on meta tensors, each layer in the mode of the paths' pieces of it.
    template = empty_block(block.spec, "c", training=block.training, modes=layer_modes(block, "fused_forward: block"))
    out = torch.func.functional_call(template, canonical, (x,), strict=True)  # (B, out, H/s, W/s)
    if any(module.training for module in template.modules()):
        # Form (c)'s BNs in train mode updated the gathered copies of the paths' buffers: hand them back
        # (the copies of BNs in eval mode are unchanged, and come back as they were).
        # bn3 and the shortcut's BN were not gathered (rule 2): their own buffers were updated in place.
        buffers = [key for key, _ in block.named_buffers() if key.startswith("paths.")]
        with torch.no_grad():
            for key, value in from_canonical(canonical, buffers, block.spec.width).items():
                state[key].copy_(value)
    return out
