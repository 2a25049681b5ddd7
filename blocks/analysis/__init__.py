"""Deprecated home of the measuring and dataflow modules (moved in 0.1): see ``blocks.measure`` and ``blocks.dataflow``.

``from blocks.analysis.proof import compare_forms`` still works, with a DeprecationWarning naming the new module.
"""
