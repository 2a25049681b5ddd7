"""A compiler pass (layer 4): the paper's three equivalences as graph rewrites, for ``torch.compile``.

merge.py    the rules: C convolutions of one tensor, of C slices, or summed → one convolution
            (and the per-channel BN / ReLU between them → one call), on Dynamo's FX graph
graph.py    how the rules read that graph (convolutions, slices, per-channel calls, sums) and edit it
backend.py  the pass as a ``torch.compile`` backend (name "blocks") and :func:`compile`; what runs
            the rewritten graph (TorchInductor, or eagerly where a CPU trains it)
"""

from blocks.compiler.backend import (
    BACKEND,
    LOWERINGS,
    CompiledGraph,
    Lowering,
    blocks_backend,
    compile,
    lowering_of,
    register_backend,
)
from blocks.compiler.merge import (
    MergeReport,
    Rewrite,
    convolution_table,
    count_convolutions,
    merge_convolutions,
    trace_and_merge,
)

__all__ = [
    "BACKEND",
    "LOWERINGS",
    "CompiledGraph",
    "Lowering",
    "MergeReport",
    "Rewrite",
    "blocks_backend",
    "compile",
    "convolution_table",
    "count_convolutions",
    "lowering_of",
    "merge_convolutions",
    "register_backend",
    "trace_and_merge",
]
