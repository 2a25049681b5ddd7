"""blocks: ResNeXt's three equivalent block forms, and the proof that they are one function.

    >>> import blocks, torch
    >>> spec = blocks.BlockSpec(256, 256, cardinality=32, width=4)   # "32x4d"
    >>> c = blocks.build(spec, "c")            # one grouped 3x3 (paper Figure 3c)
    >>> a = blocks.transplant(c, "a")          # 32 summed paths (Figure 3a), same weights
    >>> x = torch.randn(2, 256, 8, 8)
    >>> (a(x) - c(x)).abs().max() < 1e-5
    tensor(True)
"""

from blocks.audit import AuditReport, audit
from blocks.build import build
from blocks.complexity import Complexity, LayerCost, Template, complexity, table2_templates
from blocks.data import data_loaders
from blocks.forms import (
    FORMS,
    ConcatenatedPathsBlock,
    GroupedConvBlock,
    Path,
    ResNeXtBlock,
    SummedPathsBlock,
    form_of,
)
from blocks.networks import ResNeXt, replace_head, resnext, resnext29
from blocks.spec import BlockSpec
from blocks.training import SGDRecipe, small_resnext, train, train_in_lockstep
from blocks.transplant import transplant
from blocks.weights import load_weights

__all__ = [
    "FORMS",
    "AuditReport",
    "BlockSpec",
    "Complexity",
    "ConcatenatedPathsBlock",
    "GroupedConvBlock",
    "LayerCost",
    "Path",
    "ResNeXt",
    "ResNeXtBlock",
    "SummedPathsBlock",
    "Template",
    "audit",
    "build",
    "complexity",
    "form_of",
    "load_weights",
    "replace_head",
    "resnext",
    "resnext29",
    "table2_templates",
    "transplant",
    # training (blocks/data.py, blocks/training.py)
    "SGDRecipe",
    "data_loaders",
    "small_resnext",
    "train",
    "train_in_lockstep",
]
