"""blocks: ResNeXt's three equivalent block forms, and the proof that they are one function.

>>> import blocks, torch
>>> spec = blocks.BlockSpec(256, 256, cardinality=32, width=4)   # "32x4d"
>>> c = blocks.build(spec, "c")            # one grouped 3x3 (paper Figure 3c)
>>> a = blocks.transplant(c, "a")          # 32 summed paths (Figure 3a), same weights
>>> x = torch.randn(2, 256, 8, 8)
>>> (a(x) - c(x)).abs().max() < 1e-5
tensor(True)

Every public name is imported from its module the first time it is used (PEP 562), so
``import blocks`` itself imports nothing: ``python -m blocks --help`` answers at once, and
``blocks.build`` does not pay for the training loop or the benchmark. ``_HOMES`` says
where each name lives.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what mypy and editors see: the real objects, imported only when used
    from blocks.compiler import compile
    from blocks.core import (
        FORMS,
        BlockPath,
        BlockSpec,
        ConcatenatedPathsBlock,
        GroupedConvBlock,
        ResNeXtBlock,
        SummedPathsBlock,
        build,
    )
    from blocks.dataflow.audit import AuditReport, Problem, audit
    from blocks.dataflow.entry import form_of, transplant
    from blocks.dataflow.recognise import RecognisedBlock, Recognition, recognise
    from blocks.measure.complexity import Complexity, LayerCost, Template, complexity, table2_templates
    from blocks.models import ResNeXt, load_weights, replace_head, resnext, resnext29
    from blocks.training import SGDRecipe, data_loaders, small_resnext, train, train_in_lockstep

# Each public name -> the module it is imported from when first used (the imports above, as data).
_HOMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "FORMS",
            "BlockPath",
            "BlockSpec",
            "ConcatenatedPathsBlock",
            "GroupedConvBlock",
            "ResNeXtBlock",
            "SummedPathsBlock",
            "build",
        ),
        "blocks.core",
    ),
    "compile": "blocks.compiler",
    **dict.fromkeys(("AuditReport", "Problem", "audit"), "blocks.dataflow.audit"),
    **dict.fromkeys(("form_of", "transplant"), "blocks.dataflow.entry"),
    **dict.fromkeys(("RecognisedBlock", "Recognition", "recognise"), "blocks.dataflow.recognise"),
    **dict.fromkeys(
        ("Complexity", "LayerCost", "Template", "complexity", "table2_templates"), "blocks.measure.complexity"
    ),
    **dict.fromkeys(("ResNeXt", "load_weights", "replace_head", "resnext", "resnext29"), "blocks.models"),
    **dict.fromkeys(("SGDRecipe", "data_loaders", "small_resnext", "train", "train_in_lockstep"), "blocks.training"),
}

# Old names -> new names: Bottleneck (a record of a recognised block, not torchvision's module of that
# name) and Path (one path's module, which readers took for pathlib's). They warn, as
# blocks.util.deprecation.renamed's names do; the warning is raised here, in the __getattr__ that the
# reader's line calls, so that it points at that line (and shows in a script or a notebook).
_RENAMED: dict[str, str] = {"Bottleneck": "RecognisedBlock", "Path": "BlockPath"}


def __getattr__(name: str) -> object:
    """The public ``name``, imported from its module on first use (and kept here); an old name warns.

    Raises:
        AttributeError: ``name`` is neither a public name nor an old one.
    """
    if name in _RENAMED:
        new = _RENAMED[name]
        warnings.warn(f"{__name__}.{name} is deprecated: use {__name__}.{new}", DeprecationWarning, stacklevel=2)
        return __getattr__(new)
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # the next use is a plain lookup
    return value


def __dir__() -> list[str]:
    """The module's own names and every public name, imported or not (not the old names)."""
    return sorted({*globals(), *__all__})


__all__ = [
    "FORMS",
    "AuditReport",
    "BlockPath",
    "BlockSpec",
    "Complexity",
    "ConcatenatedPathsBlock",
    "GroupedConvBlock",
    "LayerCost",
    "Problem",
    "RecognisedBlock",
    "Recognition",
    "ResNeXt",
    "ResNeXtBlock",
    # training (blocks/training/)
    "SGDRecipe",
    "SummedPathsBlock",
    "Template",
    "audit",
    "build",
    "compile",
    "complexity",
    "data_loaders",
    "form_of",
    "load_weights",
    "recognise",
    "replace_head",
    "resnext",
    "resnext29",
    "small_resnext",
    "table2_templates",
    "train",
    "train_in_lockstep",
    "transplant",
]
