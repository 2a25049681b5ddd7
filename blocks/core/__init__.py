"""The teaching core: ResNeXt's block in three forms, and the transplant between them.

Read it in this order, each module building on the one before:

    spec.py        BlockSpec: in/out channels, cardinality C, width d, stride
    forms.py       the three forms of the paper's Figure 3, as nn.Modules
    canonical.py   one description of the weights for all forms: two slicing rules
    build.py       draw the weights once in the canonical layout, cut them for a form
    transplant.py  gather a block's weights into the canonical layout, cut them for another form

``_fast.py`` holds the speed devices of the transplant, each beside the plain
PyTorch it replaces; nothing in it changes what is computed.
"""

from blocks.core.build import build
from blocks.core.forms import (
    FORMS,
    BlockPath,
    ConcatenatedPathsBlock,
    GroupedConvBlock,
    ResNeXtBlock,
    SummedPathsBlock,
    form_of,
)
from blocks.core.spec import BlockSpec
from blocks.core.transplant import transplant

__all__ = [
    "FORMS",
    "BlockPath",
    "BlockSpec",
    "ConcatenatedPathsBlock",
    "GroupedConvBlock",
    "ResNeXtBlock",
    "SummedPathsBlock",
    "build",
    "form_of",
    "transplant",
]
