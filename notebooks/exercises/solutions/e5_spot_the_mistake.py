"""Solution of exercise 5 for seed 0: which block is the paper's, and which mistake each other one makes.

What gave each away (measured with the tools of notebooks 01, 03 and 07, before any audit):

* A: the same 4,480 parameters as the paper's block, one first 1x1 of C·d = 16 channels, and four
  separate 3x3s; but zeroing any group of the first 1x1's channels other than the last changes
  nothing in the output: every 3x3 reads the last group (the paths are lambdas that all slice with
  the loop's last index). Mistake 11.
* B: 128 parameters fewer than the paper's block, all in the shortcut: an average pool and a 1x1
  convolution with no BN after it. Mistake 9.
* C: the paper's block (a form (c) block rebuilt from its tensors gives the same output).
"""

ANSWER = {"A": 11, "B": 9, "C": None}
