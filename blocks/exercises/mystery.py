"""Exercise 5: three unlabelled blocks. Which is the paper's, and which mistake does each other one make?

:func:`mystery_blocks` draws, from a seed, one correct block (in form a, b or c) and two blocks
that each make one mistake of the catalogue that lives in a single block (1, 2, 3, 5, 7, 8,
9, 10 or 11), and hands them out in a shuffled order as blocks "A", "B", "C". Their classes
are renamed ``Block`` and ``Path`` so that ``print(block)`` shows their layers but no label.
The student measures them (parameters, multiply-adds, outputs, ``print``), then answers
``{"A": None, "B": 7, "C": 10}`` (None for the paper's block) or the list ``[None, 7, 10]``.

The check decides what each block IS by auditing it (:func:`blocks.audit`), not by how it
was drawn. A wrong label gets a clue measured in that block, never the number itself.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from blocks.core.build import build
from blocks.core.spec import BlockSpec
from blocks.dataflow.audit import audit
from blocks.dataflow.mistakes import CATALOGUE, WRONG_BLOCKS
from blocks.dataflow.recognise import recognise
from blocks.exercises.feedback import MISTAKES_NOTEBOOK, NotAttempted, Result, Stop, call, judge
from blocks.measure.census import census
from blocks.util.numerics import randomise_batchnorm

TITLE = "5 · three unlabelled blocks: which is the paper's, and which mistake does each other one make?"
SPEC = BlockSpec(32, 64, cardinality=4, width=4, stride=2)  # a projection with the stride: every mistake shows
LETTERS = ("A", "B", "C")
BLOCK_MISTAKES = tuple(sorted(WRONG_BLOCKS))  # the mistakes a single block can make
INPUT = (2, SPEC.in_channels, 8, 8)
Answer = Mapping[str, int | None] | Sequence[int | None]


def mystery_blocks(seed: int = 0) -> dict[str, nn.Module]:
    """Three unlabelled blocks of :data:`SPEC`: one is the paper's, the other two make one mistake each.

    Args:
        seed: which three; the same seed gives the same blocks (and weights) every time.

    Returns:
        ``{"A": block, "B": block, "C": block}``, float32, in eval mode, with random BN statistics.

    Example:
        >>> blocks_ = mystery_blocks(seed=3)
        >>> print(blocks_["A"])   # layers, no label
    """
    kinds = drawn_kinds(seed)
    correct_form = random.Random(seed).choice("abc")
    made = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for letter, kind in zip(LETTERS, kinds):
            block = build(SPEC, correct_form) if kind is None else WRONG_BLOCKS[kind](SPEC)
            randomise_batchnorm(block, torch.Generator().manual_seed(seed))
            made[letter] = _unlabelled(block.eval())
    return made


def drawn_kinds(seed: int) -> list[int | None]:
    """What the blocks A, B, C of ``seed`` were drawn to be: None for the paper's, else a mistake number."""
    draw = random.Random(seed)
    kinds: list[int | None] = [None, *draw.sample(BLOCK_MISTAKES, 2)]
    draw.shuffle(kinds)
    return kinds


def _unlabelled(block: nn.Module) -> nn.Module:
    """``block`` with its classes (and theirs of its paths) renamed ``Block`` and ``Path``: no label in print."""
    for module in block.modules():
        if type(module).__module__.startswith("blocks."):
            module.__class__ = _renamed(type(module), "Block" if module is block else "Path")
    return block


_RENAMED: dict[tuple[type[nn.Module], str], type[nn.Module]] = {}  # one renamed class per class, made once


def _renamed(cls: type[nn.Module], name: str) -> type[nn.Module]:
    def extra_repr(self: nn.Module) -> str:
        return ""

    if (cls, name) not in _RENAMED:
        namespace = {"__module__": __name__, "__qualname__": name, "form": "?", "extra_repr": extra_repr}
        _RENAMED[cls, name] = type(name, (cls,), namespace)
    return _RENAMED[cls, name]


def grade_mystery_blocks(answer: Answer | Callable[[], Answer], seed: int = 0) -> Result:
    """Exercise 5: check which of :func:`mystery_blocks` ``(seed)`` is the paper's, and each other one's mistake.

    Args:
        answer: ``{"A": None or a mistake number, "B": ..., "C": ...}``, the same as a list in the
            order A, B, C, or a function returning one.
        seed: the seed the blocks were drawn with.

    Returns:
        The :class:`Result`, also printed.
    """
    return judge(TITLE, lambda: _check(answer, seed))


def _check(answer: Answer | Callable[[], Answer], seed: int) -> tuple[list[str], list[str]]:
    labels = _labels(call(answer, what="your answer") if callable(answer) else answer)
    found = mystery_blocks(seed)
    truth = {letter: audited(block) for letter, block in found.items()}
    hints = []
    for letter in LETTERS:
        said, really = labels[letter], truth[letter]
        if said == really:
            continue
        block = found[letter]
        if really is None:  # refuted by a measurement of the claimed mistake in this block: no other label said
            assert said is not None  # it differs from really
            hints.append(
                f"Block {letter} does not make mistake {said} ({CATALOGUE[said].title}): {_refute(said, block)}"
                " Look at what made you suspect it, and measure that on a block you build with blocks.build."
                f" Read {MISTAKES_NOTEBOOK}."
            )
        else:
            wrong = "is not the paper's block" if said is None else f"does not make mistake {said}"
            hints.append(f"Block {letter} {wrong}. {_clue(really, block)} Read {MISTAKES_NOTEBOOK}.")
    if hints:
        return hints, []
    named = ", ".join(f"{letter} {_name(truth[letter])}" for letter in LETTERS)
    return [], [f"seed {seed}: {named}, as blocks.audit finds them"]


def _name(mistake: int | None) -> str:
    return "is the paper's block" if mistake is None else f"makes mistake {mistake}"


def _labels(answer: object) -> dict[str, int | None]:
    """The answer as {letter: None or mistake}; Stop if it is not one, NotAttempted if it holds an Ellipsis."""
    if isinstance(answer, Mapping):
        labels = {str(key).upper(): value for key, value in answer.items()}
    elif isinstance(answer, Sequence) and not isinstance(answer, str):
        labels = dict(zip(LETTERS, answer)) if len(answer) == len(LETTERS) else {}
    else:
        labels = {}
    if set(labels) != set(LETTERS):
        raise Stop(
            f"your answer is {answer!r}; answer with a dict {{'A': ..., 'B': ..., 'C': ...}} (or a list in that order)"
            " holding None for the paper's block and a mistake number (1 to 12) for each other one."
        )
    if any(value is Ellipsis for value in labels.values()):
        raise NotAttempted
    for letter, value in labels.items():
        if value is not None and value not in CATALOGUE:
            raise Stop(f"your label for block {letter} is {value!r}: use None or a mistake number from 1 to 12.")
    return labels


def audited(block: nn.Module) -> int | None:
    """What the audit finds in ``block``: None for the paper's block, else its one mistake."""
    found = {problem.mistake for problem in audit(block, INPUT).problems}
    if len(found) > 1 or None in found:
        raise ValueError(f"a mystery block must make at most one catalogue mistake, the audit finds {found}")
    return found.pop() if found else None


def _clue(mistake: int, block: nn.Module) -> str:
    """What to measure in ``block`` to find ``mistake``: a number measured in it and where to look, not the number."""
    layout = recognise(block, INPUT).blocks[0].layout or "c"
    paper = build(SPEC, layout).eval()
    x = torch.randn(INPUT, generator=torch.Generator().manual_seed(1))
    unique, needed = (sum(p.numel() for p in m.parameters()) for m in (block, paper))
    parameters = f"It holds {unique:,} parameters where the paper's block of this shape holds {needed:,}."
    if mistake in (2, 7):
        operator = "relu" if mistake == 2 else "batch_norm"
        mine, theirs = (sum(n for name, n in census(m, x).calls.items() if operator in name) for m in (block, paper))
        what = "ReLU" if mistake == 2 else "batch norm"
        return (
            f"One call runs {what} {mine} times where the paper's block in the same layout runs it {theirs} times."
            " Look at what follows each path's last 1x1."
        )
    if mistake == 5:
        macs = [audit(m, INPUT).multiply_adds for m in (block, paper)]
        return (
            f"It does {macs[0]:,} multiply-adds per image where the paper's block does {macs[1]:,}, with"
            f" {unique:,} parameters as it has. Look at the strides in print(block)."
        )
    if mistake == 11:
        read = _channels_reaching_output(block, x)
        return (
            f"Only {read} of the {SPEC.grouped_channels} channels of its first 1x1 reach its output. Look at which"
            " channels each of its 3x3s reads."
        )
    if mistake == 10:
        with torch.no_grad():
            smallest = float(block(x).min())
        return f"The smallest value of its output is {smallest:.2f}. Look at what its forward pass ends with."
    looks = {
        1: "how many distinct paths print(block) lists, and how often its forward pass calls them",
        3: "the first 1x1 in print(block)",
        8: "the convolutions in print(block)",
        9: "its shortcut (downsample) in print(block)",
    }
    return f"{parameters} Look at {looks[mistake]}."


def _refute(claimed: int, block: nn.Module) -> str:
    """What ``block`` measures where mistake ``claimed`` would show: measured in it alone, naming no other block."""
    layout = recognise(block, INPUT).blocks[0].layout or "c"
    paper = build(SPEC, layout).eval()
    x = torch.randn(INPUT, generator=torch.Generator().manual_seed(1))
    if claimed == 1:
        before = x.clone()
        with torch.no_grad():
            block(x)
        unique, needed = (sum(p.numel() for p in m.parameters()) for m in (block, paper))
        same = "as many as" if unique == needed else "where"
        kept = "leaves its input as it was" if torch.equal(x, before) else "changes its input"
        return (
            f"it holds {unique:,} distinct parameters, {same} a block of this shape built with blocks.build"
            f" ({needed:,}), and one call {kept}."
        )
    if claimed in (2, 7):
        operator, what = ("relu", "ReLU") if claimed == 2 else ("batch_norm", "batch norm")
        mine, theirs = (sum(n for name, n in census(m, x).calls.items() if operator in name) for m in (block, paper))
        return (
            f"one call runs {what} {mine} times; a block of this shape built with blocks.build in the same layout"
            f" runs it {theirs} times."
        )
    if claimed == 3:
        reads = sorted({m.weight.shape[1] for m in _first_convs(block)})
        return (
            f"each output channel of its first 1x1 reads {' or '.join(map(str, reads))} of its"
            f" {SPEC.in_channels} input channels."
        )
    if claimed == 5:
        mine, theirs = (audit(m, INPUT).multiply_adds for m in (block, paper))
        return (
            f"it does {mine:,} multiply-adds per image; a block of this shape built with blocks.build does {theirs:,}."
        )
    if claimed == 8:
        convolutions = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        biased = sum(m.bias is not None for m in convolutions)
        return f"{biased} of its {len(convolutions)} convolutions have a bias."
    if claimed == 9:
        shortcut = recognise(block, INPUT).blocks[0].shortcut
        what = (
            "the paper's projection: a 1x1 convolution with the stride, then a BN"
            if shortcut == "projection"
            else shortcut
        )
        return f"its shortcut, read from its dataflow, is {what}."
    if claimed == 10:
        with torch.no_grad():
            smallest = float(block(x).min())
        return f"the smallest value of its output on a random input is {smallest:.2f}."
    if claimed == 11:
        read = _channels_reaching_output(block, x)
        return f"{read} of the {SPEC.grouped_channels} channels of its first 1x1 reach its output."
    return f"mistake {claimed} is made by a whole network (its stages, stem or head), never by one block alone."


def _first_convs(block: nn.Module) -> list[nn.Conv2d]:
    """The block's first 1x1 convolution(s): in_channels -> the paths' channels (not the shortcut's 1x1)."""
    return [
        m
        for m in block.modules()
        if isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.in_channels == SPEC.in_channels
        and m.out_channels != SPEC.out_channels
    ]


def _channels_reaching_output(block: nn.Module, x: torch.Tensor) -> int:
    """How many output channels of the block's first 1x1(s) (in -> C·d, or in -> d per path) its output depends on."""
    probe = copy.deepcopy(block)
    seen: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        output.retain_grad()
        seen.append(output)

    for module in _first_convs(probe):
        module.register_forward_hook(keep)
    probe(x).sum().backward()
    return sum(int(t.grad.abs().amax((0, 2, 3)).gt(0).sum()) for t in seen if t.grad is not None)
