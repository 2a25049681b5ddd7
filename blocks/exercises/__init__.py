"""Exercises graded by the proofs: students write the block, the package says exactly what is wrong.

Six exercises, each a notebook in ``notebooks/exercises/`` with a stub to fill in and a grader:

    1  form (a) as your own nn.Module: C distinct paths, summed        grade_form_a(FormA)
    2  form (b): C paths concatenated, then one 1x1                    grade_form_b(FormB)
    3  the slicing rule, and a trained block moved from (c) to (a)     grade_slicing(path_tensors, to_form_a)
    4  parameters and multiply-adds in closed form                     grade_costs(block_cost)
    5  three unlabelled blocks: the paper's, and each one's mistake    grade_mystery_blocks(answer, seed)
    6  grouped convolution as C convolutions and as a masked one       grade_grouped_conv(by_paths, by_mask)

``grade(number, *answers)`` grades exercise ``number``. Every grader prints a
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

A whole class is graded by :mod:`blocks.exercises.grading` (``python -m blocks grade``), or by
nbgrader from the source assignment :mod:`blocks.exercises.assignment` writes (docs/teachers.md).

Example:
    >>> from blocks import exercises
    >>> result = exercises.grade(4, block_cost)   # prints "Exercise 4 · ...: PASSED." and what was measured
    >>> result.passed
    True
"""

from __future__ import annotations

from collections.abc import Callable

from blocks.exercises.costs import grade_costs
from blocks.exercises.feedback import Result
from blocks.exercises.forms import grade_form_a, grade_form_b
from blocks.exercises.group_conv import grade_grouped_conv
from blocks.exercises.mystery import SPEC as MYSTERY_SPEC
from blocks.exercises.mystery import grade_mystery_blocks, mystery_blocks
from blocks.exercises.slicing import SPEC as SLICING_SPEC
from blocks.exercises.slicing import grade_slicing, trained_block
from blocks.util.deprecation import renamed

GRADERS: dict[int, Callable[..., Result]] = {
    1: grade_form_a,
    2: grade_form_b,
    3: grade_slicing,
    4: grade_costs,
    5: grade_mystery_blocks,
    6: grade_grouped_conv,
}


def grade(exercise: int, *answers: object, **options: object) -> Result:
    """Grade the answer(s) to exercise ``exercise``; print the verdict and return it.

    Args:
        exercise: 1 to 6 (see the module docstring for what each one takes).
        answers: the student's answer(s), in the order the exercise's check takes them.
        options: passed on (exercise 5: ``seed``).

    Returns:
        The :class:`Result`.

    Raises:
        ValueError: ``exercise`` is not 1 to 6.

    Example:
        >>> grade(6, by_paths, by_mask).passed
        True
    """
    if exercise not in GRADERS:
        raise ValueError(f"exercise must be one of {sorted(GRADERS)}, got {exercise!r}")
    return GRADERS[exercise](*answers, **options)


# The names until 0.1.0: "check" also meant argument checks, resource limits and finding deviations.
__getattr__ = renamed(
    __name__,
    {
        "CHECKS": ("GRADERS", GRADERS),
        "check": ("grade", grade),
        **{
            f"check_{name}": (f"grade_{name}", GRADERS[n])
            for n, name in enumerate(
                ("form_a", "form_b", "slicing", "costs", "mystery_blocks", "grouped_conv"), start=1
            )
        },
    },
)

__all__ = [
    "GRADERS",
    "MYSTERY_SPEC",
    "SLICING_SPEC",
    "Result",
    "grade",
    "grade_costs",
    "grade_form_a",
    "grade_form_b",
    "grade_grouped_conv",
    "grade_mystery_blocks",
    "grade_slicing",
    "mystery_blocks",
    "trained_block",
]
