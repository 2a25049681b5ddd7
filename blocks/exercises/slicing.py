"""Exercise 3: the slicing rule, and a trained block moved from form (c) to form (a) by hand.

Two answers:

* ``path_tensors(state, i, cardinality)``: given a form (c) block's ``state_dict``, return
  path i's tensors (a dict, keyed as you like): its piece of the first 1x1, of the 3x3, of the
  last 1x1 and of the two BNs that sit inside the paths, running statistics included. The
  check looks for each expected piece among the returned tensors BY VALUE, so any names
  pass; a returned tensor that is not the right piece is identified (which tensor it was cut
  from, along which dimension, whose path it belongs to) and that is the hint.
* ``to_form_a(block)``: given a trained form (c) block (:func:`trained_block`), return a form
  (a) block computing the same function, without :func:`blocks.transplant`. It is judged as in
  exercise 1 (its dataflow, the paper's block holding its tensors), then run against the
  trained block itself in eval and train mode: the running statistics must have moved too.

The expected pieces are cut here from the paper's layout (rows i·d … (i+1)·d of every path
tensor, COLUMNS of the last 1x1), independently of :mod:`blocks.core.canonical`.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from unittest import mock

import torch
from torch import Tensor, nn

import blocks
from blocks.core.forms import GroupedConvBlock
from blocks.core.spec import BlockSpec
from blocks.exercises.feedback import (
    HintedBlock,
    NotAttempted,
    Result,
    Stop,
    call,
    error_text,
    hint,
    judge,
    mistake_hint,
    sentence,
)
from blocks.exercises.forms import judge_block
from blocks.measure.proof import random_block
from blocks.util.numerics import ANSWER_FP64_RTOL, relative_error

TITLE = "3 · the slicing rule, and a trained block moved from (c) to (a) by hand"
SPEC = BlockSpec(24, 32, cardinality=4, width=3, stride=2)  # a projection: every kind of tensor is there
CANONICAL_READING = "the docstring of blocks/core/canonical.py (the two slicing rules)"
# Path tensors and the dimension along which path i's piece is cut (the last 1x1's columns: its input channels).
PATH_TENSORS: dict[str, int] = {
    **{f"{bn}.{name}": 0 for bn in ("bn1", "bn2") for name in ("weight", "bias", "running_mean", "running_var")},
    "conv1.weight": 0,
    "conv2.weight": 0,
    "conv3.weight": 1,
}
_STATISTICS = ("running_mean", "running_var")
_LOOK_INDEX = "the index arithmetic of your slices (which group does path i own?)"


def trained_block(seed: int = 0) -> GroupedConvBlock:
    """A form (c) block of :data:`SPEC` as training leaves one: random weights, BN scales, shifts and statistics.

    Example:
        >>> trained_block().bn1.running_mean[:2]   # not the 0 of a new BN
        tensor([...])
    """
    block = random_block(SPEC, "c", seed=seed)
    assert isinstance(block, GroupedConvBlock)  # random_block builds form (c)
    return block.eval()


def grade_slicing(
    path_tensors: Callable[[dict[str, Tensor], int, int], Mapping[str, Tensor]],
    to_form_a: Callable[[nn.Module], nn.Module],
) -> Result:
    """Exercise 3: check the slicing rule (``path_tensors``) and a hand-made transplant to form (a) (``to_form_a``).

    Args:
        path_tensors: ``path_tensors(state, i, cardinality)`` returns path i's tensors of a form (c) state_dict.
        to_form_a: ``to_form_a(block)`` returns a form (a) module computing the trained form (c) block ``block``.

    Returns:
        The :class:`Result`, also printed.
    """

    hinted: list[HintedBlock] = []  # to_form_a's block, if its hints are about it: drawn in a notebook

    def both() -> tuple[list[str], list[str]]:
        """Each answer judged on its own: an error in one never hides the hints about the other."""
        hints, measured, attempted = [], [], []
        parts: tuple[tuple[Callable[..., object], Callable[[], tuple[list[str], list[str]]]], ...] = (
            (path_tensors, lambda: _grade_pieces(path_tensors)),
            (to_form_a, lambda: _grade_transplant(to_form_a, hinted)),
        )
        for answer, grade in parts:
            try:
                more, line = grade()
            except NotAttempted:
                name = getattr(answer, "__name__", "answer")
                more, line = [f"Your {name} still raises NotImplementedError: write it, run its cell, then run"
                              " this check again."], []  # fmt: skip
                attempted.append(False)
            except Stop as stop:
                more, line = [sentence(str(stop))], []
                attempted.append(True)
            else:
                attempted.append(True)
            hints += more
            measured += line
        if not any(attempted):
            raise NotAttempted
        return hints, measured

    return judge(TITLE, both, hinted)


def expected_pieces(state: Mapping[str, Tensor], path: int, width: int) -> dict[str, Tensor]:
    """Path ``path``'s piece of every path tensor of a form (c) ``state``: d rows (the last 1x1: d columns)."""
    return {key: state[key].narrow(dim, path * width, width) for key, dim in PATH_TENSORS.items()}


def _grade_pieces(path_tensors: Callable[..., Mapping[str, Tensor]]) -> tuple[list[str], list[str]]:
    state = trained_block().state_dict()
    width, cardinality = SPEC.width, SPEC.cardinality
    name = getattr(path_tensors, "__name__", "path_tensors")
    # kind of mistake -> (the call it was first found in, what was found per tensor)
    findings: dict[str, tuple[str, list[str]]] = {}
    for path in range(cardinality):
        what = f"your {name}(state, {path}, {cardinality})"
        given_state = {key: tensor.clone() for key, tensor in state.items()}
        try:
            given = call(path_tensors, given_state, path, cardinality, what=what)
        except Stop as stop:  # the other paths are still judged: an off-by-one often raises on the last one only
            findings.setdefault("raised", (what, [str(stop)]))
            continue
        if not isinstance(given, Mapping) or not all(isinstance(t, Tensor) for t in given.values()):
            raise Stop(f"{what} returned a {type(given).__name__}; return a dict of tensors.")
        found: dict[str, list[str]] = {}
        found["changed"] = [key for key, tensor in state.items() if not torch.equal(given_state[key], tensor)]
        wanted = expected_pieces(state, path, width)
        explained = set()
        for tensor in given.values():
            if not any(_same(tensor, piece) for piece in wanted.values()):
                kind, key, detail = _identify(tensor, state, width, path)
                found.setdefault(kind, []).append(detail)
                explained.add(key)
        found["missing"] = [
            key
            for key, piece in wanted.items()
            if key not in explained and not any(_same(t, piece) for t in given.values())
        ]
        for kind, details in found.items():
            if details and kind not in findings:
                findings[kind] = (what, details)
    if not findings:
        return [], [f"path_tensors: every piece of all {cardinality} paths of a {SPEC} block, by value"]
    return [_pieces_hint(kind, what, details) for kind, (what, details) in findings.items()], []


def _pieces_hint(kind: str, what: str, details: list[str]) -> str:
    """One hint for one kind of wrong piece, listing every tensor it was found in."""
    listed = ", ".join(details)
    if kind == "raised":
        return sentence(details[0])
    if kind in ("shifted", "length"):
        return _slices_hint(kind, what, details)
    if kind == "path":  # details are "other path:tensor"
        owners: dict[str, list[str]] = {}
        for detail in details:
            other, key = detail.split(":")
            owners.setdefault(other, []).append(key)
        width = SPEC.width
        pieces = "; ".join(
            f"path {other}'s pieces (its channels {int(other) * width}-{(int(other) + 1) * width - 1}) of"
            f" {', '.join(keys)}"
            for other, keys in owners.items()
        )
        return mistake_hint(11, f"{what} returns {pieces}", _LOOK_INDEX, CANONICAL_READING)
    texts = {
        "changed": (f"{what} changed the state_dict it was given ({listed})",
                    "every in-place operation in your function: cutting a piece must leave the block as it was"),
        "whole": (f"{what} returns whole tensors as pieces of one path ({listed}); a path holds the d = {SPEC.width}"
                  " channels of its own group", "how much of each tensor one path holds"),
        "dim": (f"{what} cuts {listed}", "which dimension of each tensor holds the paths' channels (what does the"
                " layer map to what?)"),
        "other": (f"{what} returns tensors that are no piece of the block's tensors (shapes {listed})",
                  "what each returned tensor is cut from"),
        "missing": (f"{what} returns no piece of {listed}"
                    + (" (a trained block's running statistics are part of its function in eval mode)"
                       if any(key.endswith(_STATISTICS) for key in details) else ""),
                    f"which tensors of the state_dict a path holds a piece of: {len(PATH_TENSORS)} of them"),
    }  # fmt: skip
    measured, look = texts[kind]
    return hint(measured, look, CANONICAL_READING)


def _slices_hint(kind: str, what: str, details: list[str]) -> str:
    """One hint for slices that start or end in the wrong place: the rows or columns cut, tensors grouped."""
    cuts: dict[tuple[str, str], list[str]] = {}  # (rows a-b, what that means) -> the tensors cut so
    for detail in details:
        cut, key, meaning = detail.split("\t")
        cuts.setdefault((cut, meaning), []).append(key)
    measured = f"{what} returns " + "; and ".join(
        f"{cut} of {', '.join(keys)}{meaning}" for (cut, meaning), keys in cuts.items()
    )
    if kind == "shifted":
        return mistake_hint(11, measured, _LOOK_INDEX, CANONICAL_READING)
    return hint(measured, "where your slices start and end: Python's a:b stops before b", CANONICAL_READING)


def _same(tensor: Tensor, piece: Tensor) -> bool:
    return tensor.shape == piece.shape and tensor.dtype == piece.dtype and torch.equal(tensor, piece)


def _identify(tensor: Tensor, state: Mapping[str, Tensor], width: int, path: int) -> tuple[str, str, str]:
    """What a wrong returned tensor of path ``path`` is: (kind, the tensor it was cut from, what was measured)."""
    for key, full in state.items():
        if full.ndim == 0 or key not in PATH_TENSORS:
            continue
        if _same(tensor, full):
            return "whole", key, f"{key} {tuple(full.shape)}"
        for dim in range(min(full.ndim, 2)):
            for other in range(full.shape[dim] // width):
                if not _same(tensor, full.narrow(dim, other * width, width)):
                    continue
                if dim == PATH_TENSORS[key]:
                    return "path", key, f"{other}:{key}"
                across = "output channels (dim 0)" if dim == 0 else "input channels (dim 1)"
                return "dim", key, f"{key} {tuple(full.shape)} across its {across}, a piece of {tuple(tensor.shape)}"
    for key, dim in PATH_TENSORS.items():  # a slice that starts or ends in the wrong place: an off-by-one
        found = _slice_of(tensor, state[key], dim)
        if found is None:
            continue
        start, length = found
        cut = f"{'rows' if dim == 0 else 'columns'} {start}-{start + length - 1}"
        own = f"path {path}'s are {path * width}-{(path + 1) * width - 1}"
        if length == width:
            owners = sorted({start // width, (start + length - 1) // width} - {path})
            into = " and ".join(f"path {owner}'s" for owner in owners) or "other paths'"
            return "shifted", key, f"{cut}\t{key}\t, which reach into {into} channels, where {own}"
        return "length", key, f"{cut}\t{key}\t: {length} channels where a path holds d = {width} ({own})"
    return "other", "", str(tuple(tensor.shape))


def _slice_of(tensor: Tensor, full: Tensor, dim: int) -> tuple[int, int] | None:
    """(start, length) if ``tensor`` is ``full.narrow(dim, start, length)``, else None."""
    if tensor.ndim != full.ndim or tensor.dtype != full.dtype:
        return None
    if any(tensor.shape[i] != full.shape[i] for i in range(full.ndim) if i != dim):
        return None
    length = tensor.shape[dim]
    if not 0 < length <= full.shape[dim]:
        return None
    for start in range(full.shape[dim] - length + 1):
        if torch.equal(tensor, full.narrow(dim, start, length)):
            return start, length
    return None


@contextmanager
def _watching_transplant() -> Iterator[list[str]]:
    """While open, record every call of ``blocks.transplant`` (under the names a notebook reaches it by)."""
    calls: list[str] = []
    real = sys.modules["blocks.core.transplant"].transplant

    def watched(*args: object, **kwargs: object) -> object:
        calls.append("blocks.transplant")
        return real(*args, **kwargs)

    with ExitStack() as stack:
        for owner in (blocks, blocks.core, sys.modules["blocks.core.transplant"]):
            stack.enter_context(mock.patch.object(owner, "transplant", watched))
        yield calls


def _grade_transplant(
    to_form_a: Callable[[nn.Module], nn.Module], hinted: list[HintedBlock]
) -> tuple[list[str], list[str]]:
    """The hints about the block ``to_form_a`` returns; ``hinted`` gets that block if they are about its layers."""
    source = trained_block()
    given = copy.deepcopy(source)
    name = getattr(to_form_a, "__name__", "to_form_a")
    what = f"your {name}(block)"
    with _watching_transplant() as transplants:
        result = call(to_form_a, given, what=what)
    if transplants:
        look = "your function: cut each path's pieces out of the block's state_dict"
        return [
            hint(f"{what} calls blocks.transplant: here you move the tensors yourself", look, CANONICAL_READING)
        ], []
    hints = []
    changed = [key for key, t in source.state_dict().items() if not torch.equal(given.state_dict()[key], t)]
    if changed:
        hints.append(hint(f"{what} changed the trained block it was given ({', '.join(changed[:3])})",
                          "every in-place operation in your function", CANONICAL_READING))  # fmt: skip
    found, _, block = judge_block(result, SPEC, "a", what=what, randomise=False, own=False)
    if found and block is not None:
        hinted.append(HintedBlock(block, SPEC, "a"))
    if found or block is None:
        return hints + list(found.values()), []
    assert isinstance(result, nn.Module)  # judge_block found a block in it
    x = torch.randn(4, SPEC.in_channels, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    errors = {}
    for mode in ("eval", "train"):
        mine = copy.deepcopy(result).double().train(mode == "train")
        trained = copy.deepcopy(source).double().train(mode == "train")
        with torch.no_grad():
            errors[mode] = relative_error(mine(x), trained(x))
    if max(errors.values()) > ANSWER_FP64_RTOL:
        hints.append(_mismatch(block.canonical, source.state_dict(), errors, what))
    shared = _shared_storage(result, given)
    if shared:
        hints.append(hint(f"{shared} tensors of the block {what} returns share memory with the trained block:"
                          " training one would change the other", "where your pieces are put into the new block",
                          CANONICAL_READING))  # fmt: skip
    if hints:
        return hints, []
    return [], [
        f"to_form_a: form (a), {block.cardinality} paths of {block.width} channels, equal to the trained block to"
        f" {error_text(errors['eval'])} (eval) and {error_text(errors['train'])} (train), float64,"
        " sharing no memory with it"
    ]


def _mismatch(
    canonical: dict[str, Tensor] | None, state: Mapping[str, Tensor], errors: dict[str, float], what: str
) -> str:
    """The hint for a form (a) block that is the paper's but not the trained one: which tensors did not arrive."""
    measured = (
        f"{what} is a correct form (a) block, but not the trained one: they differ by {errors['eval']:.1e} in eval"
        f" mode and {errors['train']:.1e} in train mode (relative, float64)"
    )
    if canonical is None:
        return hint(measured, "every tensor you copy", CANONICAL_READING)
    wrong = [
        key
        for key, tensor in state.items()
        if not key.endswith("num_batches_tracked") and not torch.allclose(canonical[key].double(), tensor.double())
    ]
    for key in wrong:
        dim = PATH_TENSORS.get(key)
        if dim is None:
            continue
        for path in range(SPEC.cardinality):
            piece = canonical[key].narrow(dim, path * SPEC.width, SPEC.width)
            for other in range(SPEC.cardinality):
                if other != path and torch.equal(
                    piece, state[key].narrow(dim, other * SPEC.width, SPEC.width).to(piece)
                ):
                    measured += f"; path {path}'s piece of {key} holds path {other}'s weights"
                    return mistake_hint(11, measured, _LOOK_INDEX, CANONICAL_READING)
    statistics = all(key.endswith(_STATISTICS) for key in wrong) and errors["train"] <= ANSWER_FP64_RTOL
    measured += f"; what differs: {', '.join(wrong)}" if wrong else ""
    look = (
        "the BNs' running statistics: they are buffers, not parameters, and a trained block's are not a new BN's"
        if statistics
        else f"how you fill in {', '.join(wrong[:3]) or 'each tensor'}"
    )
    return hint(measured, look, CANONICAL_READING)


def _shared_storage(module: nn.Module, source: nn.Module) -> int:
    """How many tensors of ``module`` live in the memory of one of ``source``'s."""
    owned = {t.untyped_storage().data_ptr() for t in source.state_dict().values()}
    return sum(t.untyped_storage().data_ptr() in owned for t in module.state_dict().values())
