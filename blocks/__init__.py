"""blocks: ResNeXt's three equivalent block forms, and the proof that they are one function.

>>> import blocks, torch
>>> spec = blocks.BlockSpec(256, 256, cardinality=32, width=4)   # "32x4d"
>>> c = blocks.build(spec, "c")            # one grouped 3x3 (paper Figure 3c)
>>> a = blocks.transplant(c, "a")          # 32 summed paths (Figure 3a), same weights
>>> x = torch.randn(2, 256, 8, 8)
>>> (a(x) - c(x)).abs().max() < 1e-5
tensor(True)
"""

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
from blocks.util.deprecation import renamed

# Old names: Bottleneck (a record of a recognised block, not torchvision's module of that name) and
# Path (one path's module, which readers took for pathlib's).
__getattr__ = renamed(__name__, {"Bottleneck": ("RecognisedBlock", RecognisedBlock), "Path": ("BlockPath", BlockPath)})

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
