"""The three forms of the ResNeXt block, as drawn in the paper's Figure 3.

Every form computes  y = ReLU( BN( F(x) ) + shortcut(x) ),  where F aggregates C
paths T_1 … T_C, each a bottleneck 1x1 (in→d) → 3x3 (d→d) → 1x1 (d→out)
(paper eq. 3). The forms differ ONLY in how F is laid out in modules:

    (a) SummedPathsBlock        F(x) = Σ_i  W3_i · T'_i(x)          C separate paths, summed
    (b) ConcatenatedPathsBlock  F(x) = W3 · concat_i T'_i(x)        one 1x1 over the concat
    (c) GroupedConvBlock        F(x) = W3 · T'(x), T' grouped       one grouped 3x3 conv

where T'_i is path i up to its 3x3 (1x1 → BN → ReLU → 3x3 → BN → ReLU) and W3 is
the last 1x1. (a) = (b) because a 1x1 over a concat is the sum of 1x1s over the
pieces (W3 = [W3_1 … W3_C], column blocks). (b) = (c) because C separate 1x1s
(and 3x3s) side by side ARE a 1x1 (and a grouped 3x3) on the stacked channels.

Where the BatchNorms sit, and why that keeps the forms equal in train mode too:
BatchNorm normalises each channel by that channel's own batch statistics. The
per-path BNs after the first 1x1 and the 3x3 therefore act on exactly the same
channels in every form (channel i·d + j of form (c) is channel j of path i), so
they compute the same thing in train and eval mode. The last BN must sit AFTER
the paths are summed: a BN per path after each path's last 1x1 (as some
re-drawings of Figure 3(a) put it) would normalise each partial sum with its own
batch statistics, which no single BN after the sum can reproduce in train mode.
So form (a) sums first and then applies one BN(out), like (b) and (c).

All convolutions have ``bias=False`` (BN follows each one); the stride sits on
the 3x3 (paper section 4); a projection shortcut (1x1 conv with the stride + BN)
is used exactly when ``spec.has_projection``. Form (c) uses torchvision's
``Bottleneck`` parameter names so its ``state_dict`` loads torchvision checkpoints.

Build blocks with :func:`blocks.build`, which initialises all forms to the same
function; the classes' own constructors leave PyTorch's default initialisation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from blocks.core.spec import BlockSpec


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def _conv3x3(channels: int, stride: int, cardinality: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, groups=cardinality, bias=False)


class ResNeXtBlock(nn.Module):
    """What every form shares: the last BN, the shortcut and the final ReLU.

    Subclasses build the layers of :meth:`aggregate` (the paper's F(x) before its
    last BN) and then call :meth:`_add_tail`, so that modules print and register
    in the order data flows through them, as in torchvision.
    """

    form: str  # "a", "b" or "c", set by each subclass

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec

    def _add_tail(self) -> None:
        spec = self.spec
        self.bn3 = nn.BatchNorm2d(spec.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if spec.has_projection:
            self.downsample = nn.Sequential(
                _conv1x1(spec.in_channels, spec.out_channels, spec.stride),
                nn.BatchNorm2d(spec.out_channels),
            )

    def aggregate(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        # x: (B, in, H, W); s = stride
        out = self.bn3(self.aggregate(x))  # (B, out, H/s, W/s)
        # The shortcut is added in place, as torchvision does: a new (B, out, H/s, W/s) tensor
        # per block would cost an allocation and its page faults, and make (c) slower than torchvision.
        out += x if self.downsample is None else self.downsample(x)  # (B, out, H/s, W/s)
        return self.relu(out)  # type: ignore[no-any-return]  # ReLU AFTER the add, as in ResNet

    def extra_repr(self) -> str:
        return f"form={self.form!r}, spec={self.spec}"


class BlockPath(nn.Module):
    """One path T_i of forms (a) and (b): 1x1 → BN → ReLU → 3x3 → BN → ReLU [→ 1x1].

    Args:
        in_channels: channels of the block input.
        width: d, the channels inside this path.
        stride: the stride of the 3x3.
        out_channels: channels of the closing 1x1, or None for form (b)'s paths,
            which end after the 3x3's ReLU (their 1x1 is shared, after the concat).
    """

    def __init__(self, in_channels: int, width: int, stride: int, out_channels: int | None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv3 = None if out_channels is None else _conv1x1(width, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, d, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, d, H/s, W/s)
        if self.conv3 is not None:
            out = self.conv3(out)  # (B, out, H/s, W/s)
        return out  # type: ignore[no-any-return]  # nn.Module.__call__ is typed Any


class SummedPathsBlock(ResNeXtBlock):
    """Form (a), Figure 3(a): C separate paths, each ending in its own 1x1, summed.

    The C paths are distinct modules with their own weights (``paths.0`` …
    ``paths.{C-1}``); calling one path C times would be a different, much
    smaller model with C-times-shared weights.
    """

    form = "a"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.paths = nn.ModuleList(
            BlockPath(spec.in_channels, spec.width, spec.stride, spec.out_channels) for _ in range(spec.cardinality)
        )
        self._add_tail()

    def aggregate(self, x: Tensor) -> Tensor:
        out = self.paths[0](x)  # (B, out, H/s, W/s)
        for path in self.paths[1:]:
            out = out + path(x)  # Σ_i T_i(x): (B, out, H/s, W/s)
        return out  # type: ignore[no-any-return]  # nn.Module.__call__ is typed Any


class ConcatenatedPathsBlock(ResNeXtBlock):
    """Form (b), Figure 3(b): C paths up to their 3x3, concatenated, one shared 1x1."""

    form = "b"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        self.paths = nn.ModuleList(
            BlockPath(spec.in_channels, spec.width, spec.stride, out_channels=None) for _ in range(spec.cardinality)
        )
        self.conv3 = _conv1x1(spec.grouped_channels, spec.out_channels)
        self._add_tail()

    def aggregate(self, x: Tensor) -> Tensor:
        out = torch.cat([path(x) for path in self.paths], dim=1)  # (B, C*d, H/s, W/s)
        return self.conv3(out)  # type: ignore[no-any-return]  # (B, out, H/s, W/s)


class GroupedConvBlock(ResNeXtBlock):
    """Form (c), Figure 3(c): one path whose 3x3 is a grouped convolution with C groups.

    Layout and names are torchvision's ``Bottleneck`` (conv1 bn1 conv2 bn2 conv3
    bn3 downsample.0 downsample.1), so torchvision ResNeXt checkpoints load here.
    """

    form = "c"

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__(spec)
        channels = spec.grouped_channels  # C·d
        self.conv1 = _conv1x1(spec.in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, spec.stride, cardinality=spec.cardinality)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = _conv1x1(channels, spec.out_channels)
        self._add_tail()

    def aggregate(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C*d, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, C*d, H/s, W/s): group i = path i
        return self.conv3(out)  # type: ignore[no-any-return]  # (B, out, H/s, W/s)


FORMS: dict[str, type[ResNeXtBlock]] = {
    cls.form: cls for cls in (SummedPathsBlock, ConcatenatedPathsBlock, GroupedConvBlock)
}


def check_form(form: object) -> str:
    """Return ``form`` if it names a form, else raise ``ValueError`` listing the valid ones."""
    if not isinstance(form, str) or form not in FORMS:
        raise ValueError(f"form must be one of {sorted(FORMS)}, got {form!r}")
    return form


def form_of(module: nn.Module) -> str:
    """The form, ``"a"``, ``"b"`` or ``"c"``, of a block, or of every block in a network.

    This reads the blocks this package built. A model it did not build is read by its
    dataflow: :func:`blocks.form_of` with ``input_size`` (:mod:`blocks.dataflow.entry`).

    Raises:
        TypeError: ``module`` is not an ``nn.Module``; it holds no block of this package,
            or a block of another class (a subclass of ResNeXtBlock that is not one of the three forms).
        ValueError: ``module`` holds blocks of more than one form.

    Example:
        >>> form_of(blocks.build(blocks.BlockSpec(64, 64, 4, 8), "b"))
        'b'
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"form_of: module must be a torch.nn.Module, got {type(module).__name__}")
    found = named_blocks(module)
    for name, block in found:
        check_block(block, f"form_of: submodule {name!r}" if name else "form_of: the module")
    if not found:
        raise TypeError(not_a_block("form_of", module))
    return forms_in("form_of", module, {block.form for _, block in found})


def not_a_block(caller: str, module: nn.Module) -> str:
    """The message for a module that holds no block of this package: where to go instead."""
    return (
        f"{caller}: {type(module).__name__} is not and does not contain a ResNeXt block"
        " of form a, b or c; for a model this package did not build, pass input_size=(batch, C, H, W)"
    )


def forms_in(caller: str, module: nn.Module, forms: set[str]) -> str:
    """The one form in ``forms``; ValueError naming them if ``module`` mixes several."""
    if len(forms) > 1:
        raise ValueError(f"{caller}: {type(module).__name__} mixes blocks of forms {sorted(forms)}")
    return next(iter(forms))


# Every module class a block of form a, b or c is made of (exactly these: a subclass may compute something else).
_BLOCK_PARTS = frozenset({nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Sequential, nn.ModuleList, BlockPath})


def check_block(block: nn.Module, where: str) -> None:
    """Raise TypeError, naming ``where``, unless ``block`` is exactly one of the three form classes."""
    if FORMS.get(str(getattr(block, "form", ""))) is not type(block):
        raise TypeError(f"{where} is a {type(block).__name__}, not a block of form a, b or c")


def foreign_parts(block: nn.Module) -> list[str]:
    """The modules inside ``block`` of a class none of the three forms is made of, in words ("relu is a SiLU").

    A block whose ReLU was swapped for another activation, or that holds another module, is no longer
    a block this package computes: its tensors alone do not say what it does.
    """
    return [
        f"{name} is a {type(part).__name__}"
        for name, part in block.named_modules()
        if name and type(part) not in _BLOCK_PARTS
    ]


def named_blocks(module: nn.Module) -> list[tuple[str, ResNeXtBlock]]:
    """Every block of this package inside ``module`` (itself included, named ""), in module order.

    The search does not descend into a block: a form (a) block of C = 32 has
    over 200 layers, and a block never holds another block. A block registered
    under two names is listed under both, as ``state_dict`` lists its tensors.
    """
    if isinstance(module, ResNeXtBlock):
        return [("", module)]
    return [
        (f"{name}.{inner}" if inner else name, block)
        for name, child in module.named_children()
        for inner, block in named_blocks(child)
    ]
