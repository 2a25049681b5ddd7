"""Exercises graded by the proofs: students write the block, the package says exactly what is wrong.

Six exercises, each a notebook in ``notebooks/exercises/`` with a stub to fill in and a check:

    1  form (a) as your own nn.Module: C distinct paths, summed        check_form_a(FormA)
    2  form (b): C paths concatenated, then one 1x1                    check_form_b(FormB)
    3  the slicing rule, and a trained block moved from (c) to (a)     check_slicing(path_tensors, to_form_a)
    4  parameters and multiply-adds in closed form                     check_costs(block_cost)
    5  three unlabelled blocks: the paper's, and each one's mistake    check_mystery_blocks(answer, seed)
    6  grouped convolution as C convolutions and as a masked one       check_grouped_conv(by_paths, by_mask)

``check(number, *answers)`` runs the check of exercise ``number``. Every check prints a
verdict and returns a :class:`Result` (``passed``, ``attempted``, ``hints``, ``measured``):

* a stub that still raises ``NotImplementedError`` is "not attempted yet", never a traceback;
  any other error in the student's code is a hint naming it and the line it came from;
* a right answer PASSES, whatever its style (loops, ``nn.ModuleList``, ``chunk``/``cat``,
  functional calls) and whatever its names: modules are judged by their dataflow
  (:func:`blocks.recognise`) and by running them against a reference built independently
  (``blocks.build(spec, "c")`` holding the student's own tensors, ``F.conv2d(..., groups=C)``,
  :func:`blocks.complexity`), in float64, in eval and in train mode;
* a wrong answer gets hints: each names the catalogue mistake
  (:data:`blocks.dataflow.mistakes.CATALOGUE`) when there is one, the symptom MEASURED in the
  student's own answer ("the 4 paths share weights: 480 unique parameters are used where 1,728
  are needed"), where in their code to look, and what to read in the course. No hint holds code.

Example:
    >>> from blocks import exercises
    >>> result = exercises.check(4, block_cost)   # prints "Exercise 4 · ...: PASSED." and what was measured
    >>> result.passed
    True
"""

from __future__ import annotations

from collections.abc import Callable

from blocks.exercises.costs import check_costs
from blocks.exercises.feedback import Result
from blocks.exercises.forms import check_form_a, check_form_b
from blocks.exercises.group_conv import check_grouped_conv
from blocks.exercises.mystery import SPEC as MYSTERY_SPEC
from blocks.exercises.mystery import check_mystery_blocks, mystery_blocks
from blocks.exercises.slicing import SPEC as SLICING_SPEC
from blocks.exercises.slicing import check_slicing, trained_block

CHECKS: dict[int, Callable[..., Result]] = {
    1: check_form_a,
    2: check_form_b,
    3: check_slicing,
    4: check_costs,
    5: check_mystery_blocks,
    6: check_grouped_conv,
}


def check(exercise: int, *answers: object, **options: object) -> Result:
    """Check the answer(s) to exercise ``exercise``; print the verdict and return it.

    Args:
        exercise: 1 to 6 (see the module docstring for what each one takes).
        answers: the student's answer(s), in the order the exercise's check takes them.
        options: passed on (exercise 5: ``seed``).

    Returns:
        The :class:`Result`.

    Raises:
        ValueError: ``exercise`` is not 1 to 6.

    Example:
        >>> check(6, by_paths, by_mask).passed
        True
    """
    if exercise not in CHECKS:
        raise ValueError(f"exercise must be one of {sorted(CHECKS)}, got {exercise!r}")
    return CHECKS[exercise](*answers, **options)


__all__ = [
    "CHECKS",
    "MYSTERY_SPEC",
    "SLICING_SPEC",
    "Result",
    "check",
    "check_costs",
    "check_form_a",
    "check_form_b",
    "check_grouped_conv",
    "check_mystery_blocks",
    "check_slicing",
    "mystery_blocks",
    "trained_block",
]
