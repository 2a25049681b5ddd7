"""Does the active mutant change what a transplanted block or network computes? ``make mutants`` asks.

The proof files must each kill, alone, every mutant of ``canonical.py`` and ``transplant.py``
that changes the computed function. Whether a mutant does is decided here, apart from every
test: a mutant that only changes an error message, or a check that valid input never fails,
leaves every probe below unchanged.

Run in a mutmut project with the mutant chosen by the environment, as mutmut runs the tests::

    MUTANT_UNDER_TEST=blocks.core.transplant.x_transplant__mutmut_7 PYTHONPATH=mutants python tools/function_oracle.py

Exit status 0: the function is unchanged on every probe; 1: it changed (the first probe that
shows it is printed). Probes, in float64, for blocks (with and without projection, C = 1 and 3)
and a small network, every source form to every target form (a→a included):

- the target's output equals the untouched source's, in eval mode and in train mode with the
  3x3 BatchNorms left in eval mode (as when they are frozen), and so does the input's gradient;
- after one train-mode forward of each, their eval outputs still agree (running statistics);
- the source computes what it computed before the transplant, also after the target's
  parameters are changed in place (no shared storage).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn

from blocks import BlockSpec, transplant
from blocks.measure.proof import random_block, randomise_batchnorm, relative_error
from blocks.training.loop import small_resnext

TOLERANCE = 1e-10  # float64: the forms differ by rounding (~1e-15); a changed function by far more
SPECS = (BlockSpec(8, 12, 3, 2, stride=2), BlockSpec(12, 12, 3, 4), BlockSpec(6, 6, 1, 4))
FORMS = "abc"


def _freeze_3x3_batch_norms(module: nn.Module) -> nn.Module:
    """Train mode, but every BatchNorm after a 3x3 (``bn2`` in each form) in eval mode."""
    module.train()
    for name, layer in module.named_modules():
        if name.endswith("bn2"):
            layer.eval()
    return module


def _differs(what: str, output: torch.Tensor, reference: torch.Tensor) -> str | None:
    if output.shape != reference.shape:
        return f"{what}: shape {tuple(output.shape)}, source {tuple(reference.shape)}"
    error = relative_error(output, reference)
    return f"{what}: relative error {error:.2e}" if not error <= TOLERANCE else None


def probe(make: Callable[[str], nn.Module], image: torch.Tensor, where: str) -> str | None:
    """The first difference between a source of every form and its transplant into every form."""
    for source_form in FORMS:
        for target_form in FORMS:
            name = f"{where} {source_form}→{target_form}"
            source = make(source_form)
            with torch.no_grad():
                before = source.eval()(image)
            target = transplant(_freeze_3x3_batch_norms(source), target_form)
            with torch.no_grad():
                if found := _differs(f"{name}, the source after the transplant", source.eval()(image), before):
                    return found
            outputs = []
            for model in (_freeze_3x3_batch_norms(source), target):
                x = image.clone().requires_grad_(True)
                out = model(x)  # train mode, 3x3 BNs frozen: running statistics move
                out.square().sum().backward()
                with torch.no_grad():
                    outputs.append((out.detach(), x.grad, model.eval()(image)))
            for what, (mine, theirs) in zip(("train", "input gradient", "eval after a step"), zip(*outputs)):
                if found := _differs(f"{name}, {what}", theirs, mine):
                    return found
            with torch.no_grad():
                for parameter in target.parameters():
                    parameter.add_(1.0)
                if found := _differs(f"{name}, the source once the copy changes", source(image), outputs[0][2]):
                    return found
    return None


def block_maker(spec: BlockSpec) -> Callable[[str], nn.Module]:
    return lambda form: random_block(spec, form, seed=1).double()


def network_maker(form: str) -> nn.Module:
    torch.manual_seed(2)
    return randomise_batchnorm(small_resnext(form), torch.Generator().manual_seed(3)).double()


def main() -> int:
    torch.manual_seed(0)
    probes = [
        (block_maker(spec), torch.randn(2, spec.in_channels, 6, 6, dtype=torch.float64), str(spec)) for spec in SPECS
    ]
    probes.append((network_maker, torch.randn(2, 3, 8, 8, dtype=torch.float64), "small_resnext"))
    for make, image, where in probes:
        try:
            found = probe(make, image, where)
        except Exception as error:  # valid input refused, or a crash: the function changed
            found = f"{where}: {type(error).__name__}: {error}"
        if found:
            print(found)
            return 1
    print("unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
