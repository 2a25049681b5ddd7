"""transplant: a new module of another form, exact, independent, and loud about bad input."""

from __future__ import annotations

import gc
import itertools

import pytest
import torch
from torch import nn

import blocks
from blocks import FORMS as FORMS_BY_NAME
from blocks import BlockSpec, GroupedConvBlock, ResNeXtBlock, build, form_of, transplant
from blocks.core._fast import empty_block, state_of
from blocks.core.canonical import layer_modes, to_canonical
from blocks.measure.proof import random_block
from blocks.util.numerics import FP64_RTOL, relative_error

from tests.helpers.cases import freeze_batch_norms, random_input

FORMS = ["a", "b", "c"]
ROUND_TRIPS = [trip for trip in itertools.product(FORMS, repeat=3) if trip[0] == trip[2]]


def storages(module: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in module.state_dict().values()}


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_bitwise_equal(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert first[key].dtype == second[key].dtype and torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("trip", ROUND_TRIPS, ids="->".join)
def test_round_trip_is_bitwise(spec: BlockSpec, trip: tuple[str, str, str]) -> None:
    source = random_block(spec, trip[0])
    back = transplant(transplant(source, trip[1]), trip[2])
    assert type(back) is type(source)
    assert_bitwise_equal(back.state_dict(), source.state_dict())


@pytest.mark.parametrize(("source_form", "target_form"), list(itertools.product(FORMS, repeat=2)), ids="->".join)
def test_source_unchanged_and_nothing_shared(source_form: str, target_form: str) -> None:
    source = random_block(BlockSpec(16, 32, 4, 3, stride=2), source_form)
    before = snapshot(source)
    target = transplant(source, target_form)
    assert target is not source and form_of(target) == target_form
    assert_bitwise_equal(source.state_dict(), before)
    assert not storages(source) & storages(target)
    with torch.no_grad():
        for tensor in target.state_dict().values():
            tensor.add_(1)
    assert_bitwise_equal(source.state_dict(), before)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_dtype_is_kept(dtype: torch.dtype) -> None:
    source = random_block(BlockSpec(8, 8, 2, 4), "a").to(dtype)
    target = transplant(source, "c")
    assert {p.dtype for p in target.parameters()} == {dtype}


def test_device_is_kept() -> None:
    # The meta device stands in for an accelerator: tensors with no data, but a device.
    source = build(BlockSpec(8, 8, 2, 4), "c").to("meta")
    target = transplant(source, "a")
    assert {t.device.type for t in target.state_dict().values()} == {"meta"}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_mode_is_kept(training: bool) -> None:
    target = transplant(build(BlockSpec(8, 8, 2, 4), "c").train(training), "a")
    assert all(m.training is training for m in target.modules())


@pytest.mark.parametrize(("source_form", "target_form"), list(itertools.product(FORMS, repeat=2)), ids="->".join)
def test_batch_norms_set_apart_in_eval_mode_stay_apart(source_form: str, target_form: str) -> None:
    spec = BlockSpec(16, 32, 4, 3, stride=2)
    source = freeze_batch_norms(random_block(spec, source_form).double().train())
    target = transplant(source, target_form)
    assert all(m.training is not isinstance(m, nn.BatchNorm2d) for m in target.modules())
    # A training block whose BNs use their (random) running statistics: had the target's BNs been put in
    # train mode, they would normalise with the batch's statistics instead.
    x = random_input(spec)
    assert relative_error(target(x), source(x)) <= FP64_RTOL


@pytest.mark.parametrize(("source_form", "target_form"), list(itertools.product(FORMS, repeat=2)), ids="->".join)
def test_every_layers_mode_is_kept(source_form: str, target_form: str) -> None:
    # Convolutions in eval mode, BNs in train mode, the block itself in train mode: each layer keeps its own.
    source = random_block(BlockSpec(16, 32, 4, 3, stride=2), source_form).train()
    for module in source.modules():
        if isinstance(module, nn.Conv2d):
            module.eval()
    target = transplant(source, target_form)
    assert target.training
    assert all(module.training is not isinstance(module, nn.Conv2d) for module in target.modules())


@pytest.mark.parametrize("where", ["", "0"], ids=["block", "network"])
def test_paths_in_different_modes_are_refused(where: str) -> None:
    source = build(BlockSpec(8, 8, 2, 4), "a")
    source.paths[0].bn1.eval()
    named = f"submodule '{where}'" if where else "block"
    with pytest.raises(ValueError, match=rf"^{named}: the paths' bn1 layers are not all in the same train/eval mode$"):
        transplant(nn.Sequential(source) if where else source, "c")


def test_layer_modes_names_the_block_by_default() -> None:
    source = build(BlockSpec(8, 8, 2, 4), "a")
    source.paths[1].bn2.eval()
    with pytest.raises(ValueError, match=r"^block: the paths' bn2 layers are not all in the same train/eval mode$"):
        layer_modes(source)


def test_frozen_block_stays_frozen() -> None:
    source = build(BlockSpec(8, 8, 2, 4), "c").requires_grad_(False)
    assert not any(p.requires_grad for p in transplant(source, "b").parameters())
    assert all(p.requires_grad for p in transplant(source.requires_grad_(True), "b").parameters())


def test_partly_frozen_block_keeps_each_tensor_frozen_or_not() -> None:
    source = build(BlockSpec(8, 8, 2, 4), "c")
    source.bn3.requires_grad_(False)
    target = transplant(source, "a")
    frozen = sorted(name for name, p in target.named_parameters() if not p.requires_grad)
    assert frozen == ["bn3.bias", "bn3.weight"]


@pytest.mark.parametrize(
    ("rename", "message"),
    [
        (
            lambda k: k.replace("paths.1.", "paths.5."),
            r"^block: the paths holding 'conv1.weight' are \[0, 5\], not 0 … 1$",
        ),
        (lambda k: k.replace("paths.1.conv1", "conv1"), r"^block: 'conv1.weight' is given both whole and per path"),
    ],
    ids=["gap-in-path-indices", "whole-and-per-path"],
)
def test_malformed_state_is_rejected(rename, message: str) -> None:
    state = {rename(k): v for k, v in build(BlockSpec(8, 8, 2, 4), "a").state_dict().items()}
    with pytest.raises(ValueError, match=message):
        to_canonical(state)


def small_network(form: str) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        random_block(BlockSpec(16, 32, 4, 4, stride=2), form, seed=1),
        nn.Sequential(random_block(BlockSpec(32, 32, 4, 4), form, seed=2)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    ).double()


@pytest.mark.parametrize("form", FORMS)
def test_network_blocks_are_converted_and_the_rest_copied(form: str) -> None:
    source = small_network("c").eval()
    target = transplant(source, form)
    assert form_of(target) == form and form_of(source) == "c"
    assert [type(m) for m in target if not isinstance(m, (ResNeXtBlock, nn.Sequential))] == [
        type(m) for m in source if not isinstance(m, (ResNeXtBlock, nn.Sequential))
    ]
    assert target[0] is not source[0] and torch.equal(target[0].weight, source[0].weight)
    assert not storages(source) & storages(target)
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    assert relative_error(target(x), source(x)) <= FP64_RTOL


def test_blocks_made_from_one_template_share_no_module_state() -> None:
    # transplant copies a remembered template's layout: every module, dict and hook table must be new.
    source = random_block(BlockSpec(8, 8, 2, 4), "c").double().eval()
    first, second = transplant(source, "a"), transplant(source, "a")
    first.paths[0].conv1.register_forward_hook(lambda module, args, out: out.mul_(0))
    first.paths[1].conv1.weight.requires_grad_(False)
    x = random_input(source.spec)
    assert not second.paths[0].conv1._forward_hooks
    assert second.paths[1].conv1.weight.requires_grad
    assert relative_error(second(x), source(x)) < FP64_RTOL
    assert relative_error(first(x), source(x)) > 0.01  # the hook silences path 0's first 1x1 in `first` only


@pytest.mark.parametrize("form", FORMS)
def test_transplanted_block_is_laid_out_as_a_built_one(form: str) -> None:
    # transplant makes modules from recipes instead of constructors: every attribute must be there,
    # equal to a built block's, and every mutable one (hook dicts, lists) a module's own.
    spec = BlockSpec(8, 16, 2, 4, stride=2)
    built, made = build(spec, form), transplant(build(spec, "c"), form)
    assert repr(made) == repr(built)
    for (name, ours), (_, theirs) in zip(made.named_modules(), built.named_modules(), strict=True):
        assert type(ours) is type(theirs) and vars(ours).keys() == vars(theirs).keys(), name
        for key, value in vars(ours).items():
            if key not in ("_parameters", "_buffers", "_modules"):  # tensors and children: in the repr above
                assert value == vars(theirs)[key], (name, key)
    again = transplant(build(spec, "c"), form)  # from the same remembered template
    attributes = [v for block in (made, again) for m in block.modules() for v in vars(m).values()]
    mutable = [id(v) for v in attributes if isinstance(v, (dict, set, list))]
    assert len(mutable) == len(set(mutable))  # no container shared between two modules


def test_state_of_is_state_dict_with_the_same_tensor_objects() -> None:
    module = nn.Sequential(random_block(BlockSpec(8, 16, 2, 4, stride=2), "a"), nn.Conv2d(16, 4, 1, bias=False))
    module[1].register_buffer("scratch", torch.ones(1), persistent=False)  # not in a state_dict: not in state_of
    expected = module.state_dict(keep_vars=True)
    found = state_of(module)
    assert list(found) == list(expected)
    assert all(found[key] is expected[key] for key in expected)


def test_empty_block_is_a_training_block_of_meta_tensors() -> None:
    block = empty_block(BlockSpec(8, 8, 2, 4), "a")
    assert all(module.training is True for module in block.modules())
    assert {t.device.type for t in block.state_dict().values()} == {"meta"}


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-enabled", "gc-disabled"])
def test_garbage_collector_is_left_as_found(enabled: bool) -> None:
    # transplant pauses Python's cyclic collector while it makes modules; it must restore the caller's setting.
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        transplant(random_block(BlockSpec(8, 8, 2, 4), "c"), "a")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize(("source_form", "target_form"), list(itertools.product(FORMS, repeat=2)), ids="->".join)
def test_result_is_contiguous_whatever_the_source_layout(source_form: str, target_form: str) -> None:
    source = random_block(BlockSpec(8, 16, 2, 4, stride=2), source_form).to(memory_format=torch.channels_last)
    target = transplant(source, target_form)
    for key, tensor in target.state_dict().items():
        assert tensor.is_contiguous(), key


def test_build_follows_the_default_dtype_of_the_moment() -> None:
    # The block templates are made once and remembered; the weights drawn must not inherit their dtype.
    spec = BlockSpec(8, 8, 2, 4)
    assert build(spec, "a").paths[0].conv1.weight.dtype == torch.float32
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        block = build(spec, "a")
    finally:
        torch.set_default_dtype(before)
    assert {t.dtype for t in block.parameters()} == {torch.float64}
    assert block.paths[0].bn1.num_batches_tracked.dtype == torch.long


def test_unknown_form_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"form must be one of \['a', 'b', 'c'\], got 'grouped'"):
        transplant(build(BlockSpec(8, 8, 2, 4), "c"), "grouped")


def test_module_without_blocks_is_rejected() -> None:
    message = (
        r"^transplant: Linear is not and does not contain a ResNeXt block of form a, b or c; for a model this"
        r" package did not build, pass input_size=\(batch, C, H, W\)$"
    )
    with pytest.raises(TypeError, match=message):
        transplant(nn.Linear(4, 4), "a")


def test_a_layer_the_transplant_cannot_copy_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # A future layer with a non-persistent buffer (not in a state_dict) could not be remade from one.
    class WithScratch(GroupedConvBlock):
        def __init__(self, spec: BlockSpec) -> None:
            super().__init__(spec)
            self.register_buffer("scratch", torch.zeros(1), persistent=False)

    monkeypatch.setitem(FORMS_BY_NAME, "c", WithScratch)
    # A spec no other test uses or draws: the template remembered for it is this test's own.
    spec = BlockSpec(29, 31, cardinality=9, width=7)
    with pytest.raises(TypeError, match=r"^WithScratch has non-persistent buffers, which new_block cannot copy$"):
        build(spec, "c")


def test_unknown_block_class_is_named() -> None:
    class MyBlock(ResNeXtBlock):
        form = "c"

    network = nn.Sequential(nn.ReLU(), MyBlock(BlockSpec(8, 8, 2, 4)))
    with pytest.raises(TypeError, match="submodule '1' is a MyBlock, not a block of form a, b or c"):
        transplant(network, "a")


def test_inconsistent_shapes_name_the_submodule_and_tensor() -> None:
    network = nn.Sequential(nn.ReLU(), nn.Sequential(build(BlockSpec(8, 8, 2, 4), "a")))
    network[1][0].paths[1].conv2.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
    with pytest.raises(
        ValueError,
        match=r"submodule '1.0' has 'paths.1.conv2.weight' of shape \(4, 3, 3, 3\), but a form \(a\) block"
        r" of spec 8->8, 2x4d, stride 1 needs \(4, 4, 3, 3\)",
    ):
        transplant(network, "c")


def test_missing_tensor_is_named() -> None:
    block = build(BlockSpec(8, 8, 2, 4), "b")
    del block.paths[1]  # a path went missing: 2x4d needs 2 paths
    with pytest.raises(ValueError, match=r"block lacks 'paths.1.conv1.weight'"):
        transplant(block, "c")


@pytest.mark.parametrize("where", ["", "0"], ids=["block", "network"])
def test_disagreeing_bn_counters_are_rejected(where: str) -> None:
    block = build(BlockSpec(8, 8, 2, 4), "a")
    block.paths[1].bn2.num_batches_tracked.fill_(3)
    named = f"submodule '{where}'" if where else "block"
    with pytest.raises(ValueError, match=rf"^{named}: the paths' copies of bn2.num_batches_tracked disagree$"):
        transplant(nn.Sequential(block) if where else block, "c")


def test_unexpected_tensor_is_named() -> None:
    block = build(BlockSpec(8, 8, 2, 4), "c")
    block.bn3.register_buffer("scale", torch.ones(8))
    with pytest.raises(
        ValueError,
        match=r"^transplant: block has 'bn3.scale', which a form \(c\) block of spec 8->8, 2x4d, stride 1 does not",
    ):
        transplant(block, "a")


def test_transplanted_network_trains_like_the_source() -> None:
    # One SGD step on each form moves them to the same new function.
    source = small_network("c").train()
    target = transplant(source, "a")
    x, labels = torch.randn(4, 3, 16, 16, dtype=torch.float64), torch.tensor([1, 2, 3, 4])
    for net in (source, target):
        optimiser = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        nn.functional.cross_entropy(net(x), labels).backward()
        optimiser.step()
    assert relative_error(target.eval()(x), source.eval()(x)) <= FP64_RTOL


@pytest.mark.parametrize(
    "module", [None, torch.zeros(3), "resnext50", BlockSpec(8, 8, 2, 4)], ids=["None", "tensor", "str", "spec"]
)
def test_a_non_module_is_a_type_error_naming_the_argument(module: object) -> None:
    got = type(module).__name__
    with pytest.raises(TypeError, match=rf"^transplant: module must be a torch.nn.Module, got {got}$"):
        transplant(module, "a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^form_of: module must be a torch.nn.Module, got {got}$"):
        form_of(module)  # type: ignore[arg-type]


def test_a_layer_tied_outside_its_block_is_refused_not_untied() -> None:
    net = blocks.resnext29(2, 4)
    net.extra = net.layer1[0].bn3  # the same BN registered twice
    before = {k: v.clone() for k, v in net.state_dict().items()}
    message = (
        r"^transplant: submodule 'layer1.0''s 'bn3.weight' is also 'extra.weight', outside every block; the"
        r" transplant makes new layers for each block, so the two would come apart: untie them first$"
    )
    with pytest.raises(ValueError, match=message):
        transplant(net, "a")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_huge_input_is_refused_with_an_estimate() -> None:
    with pytest.raises(
        ValueError, match=r"recognise: (an|one forward pass on an) input of input_size=.* would need about [\d,.]+"
    ):
        blocks.audit(build(BlockSpec(8, 8, 2, 4), "c"), (100_000, 8, 1000, 1000))
