"""The numbers that define one ResNeXt bottleneck block.

The paper (Xie et al., 2017) names a block by its cardinality C (how many
paths) and its bottleneck width d (channels of ONE path): "32x4d" is C = 32,
d = 4. The grouped 3x3 convolution of form (c) therefore has C·d channels
(128 for 32x4d), and the block maps ``in_channels`` to ``out_channels``.
"""

from __future__ import annotations

from dataclasses import dataclass

STRIDES = (1, 2)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise ValueError naming ``name`` and the value."""
    # type(...) is int, not isinstance: bool is a subclass of int, but True is no size.
    if type(value) is not int or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_input_size(input_size: object) -> tuple[int, ...]:
    """Return ``input_size`` if it is a tuple of positive ints, batch first (2 dims or more), else raise ValueError.

    Example:
        >>> check_input_size((1, 3, 224, 224))
        (1, 3, 224, 224)
    """
    if (
        not isinstance(input_size, tuple)
        or len(input_size) < 2
        or not all(type(n) is int and n > 0 for n in input_size)
    ):
        raise ValueError(
            f"input_size must be a tuple of positive ints starting with the batch size, got {input_size!r}"
        )
    return input_size


@dataclass(frozen=True)
class BlockSpec:
    """Shape of one bottleneck block, identical for forms (a), (b) and (c).

    Args:
        in_channels: channels of the block's input x.
        out_channels: channels of the block's output (256 in ResNeXt-50's conv2 stage).
        cardinality: C, the number of paths (the number of groups of form (c)'s 3x3).
        width: d, the channels of ONE path, the paper's bottleneck width.
        stride: 1, or 2 to halve the spatial size; it sits on the 3x3 (paper section 4).

    A spec allocates nothing, so any size is a valid spec (counted on the meta device by
    :func:`blocks.complexity`); :func:`blocks.build` refuses one whose block cannot fit in memory.

    Raises:
        ValueError: a size that is not a positive int, or a stride other than 1 or 2;
            the message names the field and the value.

    Example:
        >>> spec = BlockSpec(256, 256, cardinality=32, width=4)
        >>> spec.grouped_channels, spec.has_projection
        (128, False)
    """

    in_channels: int
    out_channels: int
    cardinality: int
    width: int
    stride: int = 1

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "cardinality", "width"):
            check_positive_int(name, getattr(self, name))
        if type(self.stride) is not int or self.stride not in STRIDES:
            raise ValueError(f"stride must be one of {STRIDES}, got {self.stride!r}")

    @property
    def grouped_channels(self) -> int:
        """C·d: channels of all paths together (the grouped 3x3's in and out channels)."""
        return self.cardinality * self.width

    @property
    def has_projection(self) -> bool:
        """Whether the shortcut is a 1x1 conv + BN instead of the identity.

        Exactly when the identity would not fit: the spatial size changes
        (stride 2) or the channel count changes.
        """
        return self.stride != 1 or self.in_channels != self.out_channels

    def __str__(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, {self.cardinality}x{self.width}d, stride {self.stride}"
