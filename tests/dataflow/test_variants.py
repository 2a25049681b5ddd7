"""Variants of the family are named as variants (never mistakes), and carried by transplant where the algebra allows.

The corpus is ``tests/foreign/variants.py`` (written as other authors write them) and a few of timm's models
with random weights (``pretrained=False``: nothing is downloaded).
"""

from __future__ import annotations

import pytest
import torch

import blocks
from blocks.dataflow.recognise import VariantKind, recognise

from tests.dataflow.foreign.variants import NETWORK_VARIANTS, VARIANTS

# The carried model computes the same function as the source: float32 rounding through a few dozen layers.
FP32_RTOL = 1e-4


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_variant_is_reported_as_a_variant_not_a_mistake(name: str) -> None:
    factory, size, kinds, _ = VARIANTS[name]
    report = blocks.audit(factory(), size)
    found = {str(v.kind) for b in report.blocks for v in b.variants}
    assert kinds <= found, (found, str(report))
    assert report.problems == [], str(report)
    assert "Variants" in str(report) and "No residual bottleneck" not in str(report)
    for kind in kinds:
        assert VariantKind(kind).origin in str(report)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_transplant_carries_a_variant_or_refuses_it_naming_it(name: str, form: str) -> None:
    factory, size, _, forms = VARIANTS[name]
    model = factory().eval()
    if form not in forms:
        with pytest.raises(ValueError, match=r"transplant: .* has (a|an|convolutions|pre-activation|anti-aliased) "):
            blocks.transplant(model, form, input_size=size)
        return
    moved = blocks.transplant(model, form, input_size=size)
    assert blocks.form_of(moved) == form
    x = torch.randn(size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected, got = model(x), moved.eval()(x)
    assert float((got - expected).abs().max() / expected.abs().max()) <= FP32_RTOL


@pytest.mark.parametrize("name", sorted(NETWORK_VARIANTS))
def test_a_variant_of_the_network_is_named_and_its_blocks_carried(name: str) -> None:
    factory, size, kinds = NETWORK_VARIANTS[name]
    model = factory().eval()
    report = blocks.audit(model, size)
    assert report.problems == [], str(report)
    for kind in kinds:
        assert VariantKind(kind).origin in str(report)
    x = torch.randn(size, generator=torch.Generator().manual_seed(5))
    for form in "abc":
        moved = blocks.transplant(model, form, input_size=size)
        with torch.no_grad():
            expected, got = model(x), moved.eval()(x)
        assert float((got - expected).abs().max() / expected.abs().max()) <= FP32_RTOL


def test_a_gate_inside_the_paths_has_no_form_a() -> None:
    factory, size, _, _ = VARIANTS["se-after-3x3-regnety"]
    with pytest.raises(ValueError, match=r"forms \(b\) and \(c\) but no form \(a\)"):
        blocks.transplant(factory(), "a", input_size=size)


def test_a_model_returning_a_dict_is_transplanted() -> None:
    factory, size, _, _ = VARIANTS["se-after-bn3"]

    class Backbone(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = factory()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.body(x)
            return {"out": out, "twice": 2 * out}

    moved = blocks.transplant(Backbone().eval(), "c", input_size=size)
    assert set(moved(torch.randn(size))) == {"out", "twice"}


timm = pytest.importorskip("timm")
ZOO = {  # name: (variant kinds every block has, forms transplant carries it into)
    "seresnext26d_32x4d": ({"squeeze-excitation"}, "abc"),
    "ecaresnext26t_32x4d": ({"eca"}, "abc"),
    "resnext26ts": ({"activation"}, "abc"),
    "regnety_002": ({"squeeze-excitation"}, "bc"),  # SE after the grouped 3x3: no form (a)
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_timm_variants_are_read_and_carried(name: str) -> None:
    kinds, forms = ZOO[name]
    model = timm.create_model(name, pretrained=False).eval()
    found = recognise(model, (1, 3, 64, 64))
    assert found.blocks
    assert all(kinds <= {str(v.kind) for v in b.variants} for b in found.blocks)
    assert all(not b.deviations for b in found.blocks)
    report = blocks.audit(model, (1, 3, 64, 64))
    assert report.problems == [] and "No residual bottleneck" not in str(report)
    for form in "abc":
        if form in forms:
            blocks.transplant(model, form, input_size=(1, 3, 64, 64))
        else:
            with pytest.raises(ValueError, match="squeeze-and-excitation"):
                blocks.transplant(model, form, input_size=(1, 3, 64, 64))
