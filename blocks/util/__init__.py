"""Small helpers every layer may use (layer 1): they import torch and the standard library only.

collector.py  Python's cyclic garbage collector paused (making thousands of modules, timing)
counts.py    parameters per use and multiply-adds: the two counts every cost is made of
checks.py    checks of the tooling's arguments: modules, seeds, output paths
text.py      the one renderer of text tables (Markdown or plain)
limits.py    a time limit for code the package runs but did not write
deprecation.py  old module paths and names that still work, with a warning naming the new
numerics.py  tolerances, relative error, randomised BN statistics, an eval-mode context manager
"""
