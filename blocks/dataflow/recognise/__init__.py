"""``recognise``: find every residual bottleneck in ANY model, by what it computes.

The course's real input is code this package did not write: a student's block, a
blog post's ResNeXt, a model zoo's network. Their authors call the paths
``branch1``, ``split_transform`` or nothing at all, write them as loops, lists,
``chunk`` + ``cat`` or functional ``F.conv2d`` calls. So nothing here reads a name.
:func:`recognise` runs the model once (:func:`blocks.dataflow.trace.record`) and
reads the DATAFLOW, one pass per module:

reader.py       the orchestrator: ``recognise``, one forward pass, then each block read pass by pass
reading.py      the recorded pass as every pass reads it (who reads each value), and the channel records
contractions.py 0. the 1x1 convolutions written as products over the channels (einsum, matmul, F.linear)
residuals.py    1. the residual adds: X + branch(X), the shortcut X itself or X through one convolution
channels.py     2. every channel followed from X through the branch's convolutions, levels 1, 2, 3
paths.py        3. the paths: the connected components of the 3x3 stage, C of them, d channels each
deviations.py   4. every difference from the paper's block, measured (a catalogue mistake or unnamed)
mapping.py      5. the tensors cut per path into form (c)'s layout, rebuilt and run against the block
network.py      6. which module each block is, and the stem and head in words
records.py      what is reported: Deviation (its DeviationKind and BlockLayer), RecognisedBlock, Recognition
"""

from __future__ import annotations

from blocks.dataflow.recognise.reader import recognise
from blocks.dataflow.recognise.records import (
    CONVENTIONS,
    BlockLayer,
    Deviation,
    DeviationKind,
    RecognisedBlock,
    Recognition,
    Variant,
    VariantKind,
    common_prefix,
)
from blocks.util.deprecation import renamed
from blocks.util.numerics import CANONICAL_RTOL

__all__ = [
    "CANONICAL_RTOL",
    "CONVENTIONS",
    "BlockLayer",
    "Deviation",
    "DeviationKind",
    "RecognisedBlock",
    "Recognition",
    "Variant",
    "VariantKind",
    "common_prefix",
    "recognise",
]

# Its name until 0.1.0, which readers took for torchvision's module of that name: a record is not a module.
__getattr__ = renamed(__name__, {"Bottleneck": ("RecognisedBlock", RecognisedBlock)})
