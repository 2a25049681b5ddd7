"""Measuring blocks and networks: proofs of agreement, costs, tables, mistakes and the audit.

proof.py       compare the forms' outputs, with tolerances (``python -m blocks``)
complexity.py  parameters and multiply-adds, counted three independent ways
census.py      operator calls, bytes written and moved: why equal FLOPs are not equal time
compiled.py    the kernel calls of a torch.compile'd block: what the compiler fuses, and what not
tables.py      the paper's Tables 1 and 2, and forms a/b/c side by side
mistakes.py    the catalogue of wrong blocks that course material writes, each measured
audit.py       find those mistakes in any model
"""
