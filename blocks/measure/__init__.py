"""Measuring blocks and networks (layer 4): proofs of agreement, costs, operator calls, tables.

proof.py       compare the forms' outputs, with tolerances (``python -m blocks``)
complexity.py  parameters and multiply-adds, counted three independent ways
census.py      operator calls, bytes written and moved: why equal FLOPs are not equal time
compiled.py    the kernel calls of a torch.compile'd block: what the compiler fuses, and what not
tables.py      the paper's Tables 1 and 2, and forms a/b/c side by side
"""
