"""Reading any model by what it computes (layer 4): its dataflow, its bottlenecks, their mistakes.

trace.py      one forward pass recorded as ATen operators and the values they read and write
recognise/    residual bottlenecks found in that record, their widths, paths and layout (a module per pass)
mistakes.py   the catalogue of wrong blocks that course material writes, each measured
audit.py      find those mistakes in any model, with a report a student can read
adopt.py      a foreign model's bottlenecks swapped for this package's blocks, weights and all
entry.py      the public ``transplant`` and ``form_of``: our blocks to the core, other models here
"""
