"""``build``: a new block of any form, initialised to the same function in every form."""

from __future__ import annotations

from blocks.canonical import assemble, initial_weights
from blocks.forms import ResNeXtBlock, check_form
from blocks.spec import BlockSpec


def build(spec: BlockSpec, form: str, *, zero_init_last_bn: bool = False) -> ResNeXtBlock:
    """Build one ResNeXt block of form ``"a"``, ``"b"`` or ``"c"`` (paper Figure 3).

    The weights are drawn once in form (c)'s layout and cut for the requested
    form (see :func:`blocks.canonical.initial_weights`), so under the same
    ``torch.manual_seed`` all three forms compute the same function.

    Args:
        spec: the block's channels, cardinality C, width d and stride.
        form: ``"a"`` (C summed paths), ``"b"`` (C paths, concat, one 1x1) or
            ``"c"`` (one grouped 3x3).
        zero_init_last_bn: start the last BN's weight at 0 (block = its shortcut).

    Returns:
        The block, in float32 (the default dtype) on the CPU, in train mode.

    Raises:
        TypeError: ``spec`` is not a :class:`BlockSpec`.
        ValueError: ``form`` is not one of "a", "b", "c".

    Example:
        >>> torch.manual_seed(0); a = build(BlockSpec(256, 256, 32, 4), "a")
        >>> torch.manual_seed(0); c = build(BlockSpec(256, 256, 32, 4), "c")
        >>> x = torch.randn(2, 256, 8, 8); torch.allclose(a(x), c(x), atol=1e-5)
        True
    """
    if not isinstance(spec, BlockSpec):
        raise TypeError(f"spec must be a blocks.BlockSpec, got {type(spec).__name__}")
    check_form(form)
    weights = initial_weights(spec, zero_init_last_bn)
    return assemble(spec, form, weights, owned=weights.keys())
