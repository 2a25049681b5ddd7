"""What a student's code did, read at the operator level: weights PyTorch cannot see, and shape errors explained.

A :class:`Watch` records every ATen operator a call runs (:class:`blocks.util.dispatch.Recorder`):
its name, the shapes of its tensors, its other arguments, how far each tensor is from the call's
input, and the operator that raised, if one did. Two readings of that record:

* :func:`unregistered` — the parameters the forward pass USES that ``.parameters()`` does not
  hold (paths kept in a plain Python list or dict): an optimizer would never train them;
* :func:`explain` — PyTorch's shape error, or a wrong output shape, said in the course's words
  and measured: a shortcut without the stride, a ``torch.cat`` along the batch dimension, split
  sizes of C where d is meant, a weight block in (in, out) order instead of (out, in).

Each reads what ran, never the names the student chose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import Tensor, nn
from torch.utils._pytree import tree_flatten

from blocks.util.dispatch import Call, Recorder

_ELEMENTWISE = ("add", "add_", "sub", "sub_", "mul", "mul_")  # where a shortcut meets its branch
_WEIGHTED = ("convolution", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training")


@dataclass(frozen=True)
class Op:
    """One operator that ran (or raised): its name, its tensors' shapes and depths, its other arguments.

    Attributes:
        name: the ATen operator without overload (``convolution``, ``cat``, ``split``).
        shapes: the shapes of its tensor arguments, in order (the tensors of a list argument included).
        depths: for each of them, how many operators lie between it and the call's input (0: the input
            itself; None: a tensor from outside the call, a weight).
        args: its arguments, each tensor replaced by its shape (``cat``'s ``dim``, ``split``'s size).
        out: the shapes of its results (empty for the one that raised).
    """

    name: str
    shapes: tuple[tuple[int, ...], ...]
    depths: tuple[int | None, ...]
    args: tuple[object, ...]
    out: tuple[tuple[int, ...], ...] = ()


class Watch(Recorder):
    """Records every operator a call runs: an :class:`Op` each, the one that raised, and the weights it used.

    Args:
        inputs: the call's input tensors (depth 0).
        registered: the module's parameters and buffers (``.parameters()``, ``.buffers()``).
    """

    def __init__(self, inputs: Iterable[Tensor] = (), registered: Iterable[Tensor] = ()) -> None:
        super().__init__()
        self.ops: list[Op] = []
        self.failed: Op | None = None
        self._depth: dict[int, int] = {_key(t): 0 for t in inputs}
        self._registered = {_key(t) for t in registered}
        self.used_registered: dict[int, int] = {}  # storage -> elements: the registered parameters the call used
        self.used_outside: dict[int, int] = {}  # storage -> elements: parameters and weights from outside the module
        self._kept: list[Tensor] = []  # every tensor made, alive until the end: no storage is reused under a key
        self.convolutions: Counter[int] = Counter()  # weight storage -> how many convolutions used it

    def on_call(self, call: Call) -> object:
        tensors = call.tensors()
        depths = tuple(self._depth.get(_key(t)) for t in tensors)
        weights = _weights(call)
        for tensor in tensors:
            key = _key(tensor)
            if key in self._depth:
                continue
            if key in self._registered:
                if isinstance(tensor, nn.Parameter):
                    self.used_registered[key] = max(self.used_registered.get(key, 0), tensor.numel())
            elif isinstance(tensor, nn.Parameter) or any(tensor is w for w in weights):
                self.used_outside[key] = max(self.used_outside.get(key, 0), tensor.numel())
        if call.name == "convolution" and isinstance(call.args[1], Tensor):
            self.convolutions[_key(call.args[1])] += 1
        args = tuple(_described(a) for a in call.args)
        try:
            result = call.run()
        except Exception:
            self.failed = Op(call.name, tuple(tuple(t.shape) for t in tensors), depths, args)
            raise
        made = [t for t in tree_flatten(result)[0] if isinstance(t, Tensor)]
        known = [d for d in depths if d is not None]
        depth = 1 + max(known) if known else None
        self._kept += made
        for tensor in made:
            if depth is not None and _key(tensor) not in self._registered:
                self._depth.setdefault(_key(tensor), depth)
        self.ops.append(Op(call.name, tuple(tuple(t.shape) for t in tensors), depths, args,
                           tuple(tuple(t.shape) for t in made)))  # fmt: skip
        return result


def _key(tensor: Tensor) -> int:
    """A tensor's storage: views of one tensor share it (a weight and its slices are one weight)."""
    try:
        return tensor.untyped_storage().data_ptr() or id(tensor)
    except (RuntimeError, NotImplementedError):  # a tensor without storage (meta, a subclass)
        return id(tensor)


def _weights(call: Call) -> list[Tensor]:
    """The weight-like arguments of a convolution or batch norm: what a module would hold."""
    if call.name not in _WEIGHTED:
        return []
    return [a for a in call.args[1:3] if isinstance(a, Tensor)]  # (input, weight, bias, running statistics, ...)


def _described(arg: object) -> object:
    if isinstance(arg, Tensor):
        return tuple(arg.shape)
    if isinstance(arg, (list, tuple)):
        return tuple(_described(a) for a in arg)
    return arg


def watch(function: object, *args: Tensor, registered: Iterable[Tensor] = ()) -> Watch:
    """Run ``function(*args)`` under a :class:`Watch`; an error it raises is recorded (``failed``), not raised."""
    recorder = Watch(args, registered)
    try:
        with recorder:
            function(*args)  # type: ignore[operator]
    except Exception:  # the record is what is wanted; the error was already reported
        pass
    return recorder


@dataclass(frozen=True)
class Unregistered:
    """Parameters a forward pass uses that the module's ``.parameters()`` does not hold.

    Attributes:
        used: elements of all the parameters (and weights) the forward pass used.
        registered: how many of them ``.parameters()`` holds.
        holders: where they are kept, e.g. ``["self.paths (a list)"]``.
    """

    used: int
    registered: int
    holders: list[str]


def unregistered(module: nn.Module, recorded: Watch) -> Unregistered | None:
    """The parameters ``module``'s forward pass used (``recorded``) that it does not register; None if none."""
    outside = sum(recorded.used_outside.values())
    if not outside:
        return None
    registered = sum(recorded.used_registered.values())
    return Unregistered(registered + outside, registered, _holders(module))


def _holders(module: nn.Module) -> list[str]:
    """The attributes of ``module`` (or of its submodules) that hide modules or tensors from PyTorch."""
    found = []
    for prefix, owner in module.named_modules():
        for name, value in vars(owner).items():
            if name.startswith("_") or isinstance(value, (nn.Module, Tensor)):
                continue
            items = list(value.values()) if isinstance(value, dict) else value
            if isinstance(items, (list, tuple)) and any(isinstance(i, (nn.Module, Tensor)) for i in items):
                where = f"self.{prefix + '.' if prefix else ''}{name}"
                found.append(f"{where} (a plain {type(value).__name__})")
    return found


# ------------------------------------------------------------------------------------------ explanations


@dataclass(frozen=True)
class Story:
    """A shape error (or wrong shape) said in the course's words.

    Attributes:
        measured: what happened, with the shapes measured ("your shortcut keeps 8x8 while the branch gives 4x4").
        look: where to look, and what it must be.
        mistake: the catalogue mistake it is, or None.
    """

    measured: str
    look: str
    mistake: int | None = None


@dataclass(frozen=True)
class Shapes:
    """What the code under watch was meant to compute, for the explanations.

    Attributes:
        batch: the input's batch size.
        cardinality: C.
        piece: the channels one path or group holds where the code splits (d, or in/C).
        pieces: what is split, in words ("the C·d = 12 channels of the first 1x1").
        size: the input's height and width, where a block's stride matters (else None).
        in_channels, out_channels: the block's (where a shortcut matters; else None).
        stride: the block's stride.
    """

    batch: int
    cardinality: int
    piece: int
    pieces: str
    size: int | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    stride: int = 1


def explain(recorded: Watch, shapes: Shapes) -> Story | None:
    """The first of the known shape slips that explains what ``recorded`` saw; None if none does.

    Tried in the order they happen in code: a split into pieces of the wrong size, a ``cat`` along
    the batch, then the operator that raised: a weight in (in, out) order, or the shortcut and the
    branch meeting at different sizes.
    """
    for read in (_split, _cat_batch):
        story = read(recorded.ops, shapes)
        if story is not None:
            return story
    if recorded.failed is None:
        return None
    for fail in (_swapped, _shortcut):
        story = fail(recorded.failed, shapes)
        if story is not None:
            return story
    return None


def _split(ops: Sequence[Op], shapes: Shapes) -> Story | None:
    """``split``/``chunk`` of the channels into pieces of C channels (or d pieces), or along the batch."""
    for op in ops:
        if op.name != "split" or len(op.shapes) != 1 or len(op.shapes[0]) != 4:
            continue
        shape, size = op.shapes[0], op.args[1]
        dim = op.args[2] if len(op.args) > 2 else 0
        if not isinstance(size, int) or not isinstance(dim, int):
            continue
        dim %= 4
        if dim == 0 and shape[0] == shapes.batch:
            return Story(
                f"your split cuts a tensor of shape {shape} along dim 0, the batch (pieces of {size} images)",
                "the dim of your split or chunk: the channels are dim 1",
            )
        count = -(-shape[1] // size)
        if dim == 1 and size != shapes.piece and count != shapes.cardinality and size == shapes.cardinality:
            return Story(
                f"your split cuts {shapes.pieces} into pieces of {size} = C channels ({count} pieces), where the"
                f" C = {shapes.cardinality} paths each need a piece of {shapes.piece} channels",
                "how you split: torch.split(t, n, dim=1) takes the size of a piece (n channels each),"
                " torch.chunk(t, n, dim=1) the number of pieces",
            )
    return None


def _cat_batch(ops: Sequence[Op], shapes: Shapes) -> Story | None:
    """``torch.cat`` of the paths' outputs along dim 0, the batch."""
    for op in ops:
        if op.name != "cat" or len(op.shapes) < 2 or not op.out:
            continue
        dim = op.args[1] if len(op.args) > 1 else 0
        first = op.shapes[0]
        if (
            isinstance(dim, int)
            and dim % 4 == 0
            and all(len(s) == 4 and s[0] == shapes.batch for s in op.shapes)
            and len(set(op.shapes)) == 1
        ):
            wanted = (first[0], first[1] * len(op.shapes), *first[2:])
            return Story(
                f"your torch.cat joins {len(op.shapes)} tensors of shape {first} along dim 0, the batch, into"
                f" {op.out[0]}; joined along the channels they make {wanted}",
                "the dim of your torch.cat: a tensor is (batch, channels, height, width), and torch.cat's"
                " default is dim=0",
            )
    return None


def _swapped(failed: Op, shapes: Shapes) -> Story | None:
    """A convolution whose weight is (in, out, k, k), or a weight block written (in, out) into an (out, in) place."""
    if failed.name == "convolution" and len(failed.shapes) >= 2:
        x, weight = failed.shapes[0], failed.shapes[1]
        groups = failed.args[8] if len(failed.args) > 8 and isinstance(failed.args[8], int) else 1
        if len(x) == 4 and len(weight) == 4 and weight[1] * groups != x[1] and weight[0] == x[1]:
            right = (weight[1], weight[0], *weight[2:])
            return Story(
                f"a convolution gets an input of {x[1]} channels and a weight of shape {weight}: that weight is"
                f" (in, out, k, k), where a convolution's weight is (out, in, k, k), here {right}",
                "the order of your weight's dimensions: rows are output channels, columns input channels",
            )
    tensors = [s for s in failed.shapes if len(s) >= 2]
    if failed.name == "expand" and len(failed.args) > 1 and isinstance(failed.args[1], tuple):
        tensors.append(tuple(int(n) for n in failed.args[1]))  # the shape it is written into (dest[...] = block)
    for i, a in enumerate(tensors):
        for b in tensors[i + 1 :]:
            if a != b and a[0] == b[1] and a[1] == b[0] and a[2:] == b[2:]:
                return Story(
                    f"a weight block of shape {a} meets a place of shape {b}: one of them is (in, out),"
                    " where a weight block is (out, in)",
                    "the order of your weight block's dimensions: rows are output channels, columns input channels",
                )
    return None


def _shortcut(failed: Op, shapes: Shapes) -> Story | None:
    """The shortcut and the branch added at different sizes or channels: which one lacks the stride or projection."""
    if failed.name not in _ELEMENTWISE or shapes.size is None or len(failed.shapes) != 2:
        return None
    (a, b), (da, db) = failed.shapes, failed.depths
    if len(a) != 4 or len(b) != 4 or a == b:
        return None
    shortcut, branch = (a, b) if (da or 0) <= (db or 0) else (b, a)
    depth = min(da or 0, db or 0)
    size, small = shapes.size, -(-shapes.size // shapes.stride)
    said = f"{shortcut[2]}x{shortcut[3]}"
    if shortcut[2:] == (size, size) and branch[2:] == (small, small) and small != size:
        what = "is the identity, which" if depth == 0 else "is a projection that"
        channels = (
            f", and {shortcut[1]} channels where the branch gives {branch[1]}" if shortcut[1] != branch[1] else ""
        )
        need = "the shortcut must be a projection with the stride" if depth == 0 else "the projection needs the stride"
        return Story(
            f"your shortcut {what} keeps {said} while the branch gives {small}x{small}{channels}: {need}"
            f" (shapes {shortcut} and {branch})",
            "the shortcut: where the stride is not 1 or the channels change, a 1x1 convolution with the block's"
            " stride, then a BN",
            mistake=9,
        )
    if branch[2:] == (size, size) and shortcut[2:] == (small, small) and small != size:
        return Story(
            f"your branch keeps {size}x{size} while the shortcut gives {said}: the 3x3 needs the stride"
            f" (shapes {branch} and {shortcut})",
            "which convolution of your branch carries the stride: the 3x3",
        )
    if shortcut[2:] == branch[2:] and shortcut[1] != branch[1] and shortcut[1] == shapes.in_channels:
        return Story(
            f"your shortcut keeps the input's {shortcut[1]} channels while the branch gives {branch[1]}: where the"
            f" channels change, the shortcut is a projection (shapes {shortcut} and {branch})",
            "the shortcut: where the stride is not 1 or the channels change, a 1x1 convolution to out_channels,"
            " then a BN",
            mistake=9,
        )
    return None


def parameters_and_buffers(module: nn.Module) -> list[Tensor]:
    """Every tensor ``module`` registers: what a :class:`Watch` counts as its own."""
    return [*module.parameters(), *module.buffers()]


__all__ = [
    "Op",
    "Shapes",
    "Story",
    "Unregistered",
    "Watch",
    "explain",
    "parameters_and_buffers",
    "unregistered",
    "watch",
]
