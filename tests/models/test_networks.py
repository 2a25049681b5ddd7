"""Whole networks: torchvision's exact shapes and names, and a transplant computes what its source computes.

Every equivalence here compares against something the transplant did not make:
the untouched source network, torchvision's own model, or a network built in the
other form from the same seed; block tensors are read from each form by hand
(``tests/helpers/reference.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

import blocks
from blocks import BlockSpec, build, form_of, replace_head, resnext, resnext29, small_resnext, transplant
from blocks.core.guards import Footprint
from blocks.models.networks import network_footprint
from blocks.util.numerics import NETWORK_FP64_RTOL, NETWORK_GRAD_FP64_RTOL, randomise_batchnorm, relative_error

from tests.helpers.cases import NOT_MODULE_IDS, NOT_MODULES, small_net
from tests.helpers.reference import MODES, assert_agree, in_mode, tensors_by_path

# (torchvision builder, our arguments, parameter count as torchvision's model has it)
TORCHVISION = [
    pytest.param("resnext50_32x4d", (50, 32, 4), 25_028_904, id="resnext50_32x4d"),
    pytest.param("resnext101_32x8d", (101, 32, 8), 88_791_336, id="resnext101_32x8d"),
    pytest.param("resnext101_64x4d", (101, 64, 4), 83_455_272, id="resnext101_64x4d"),
    pytest.param("resnet50", (50, 1, 64), 25_557_032, id="resnet50"),
]


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("name", "args", "params"), TORCHVISION)
def test_parameter_count_equals_torchvision(name: str, args: tuple[int, int, int], params: int) -> None:
    with torch.device("meta"):  # count without allocating or drawing weights
        assert count(resnext(*args)) == count(getattr(torchvision.models, name)()) == params


# The 101-layer models run for seconds each: slow, and make mutants leaves them to their 50-layer sibling.
TORCHVISION_LOADS = [
    pytest.param(*case.values, id=case.id, marks=[pytest.mark.slow, pytest.mark.mutation_slow])
    if "101" in case.id
    else case
    for case in TORCHVISION
]


@pytest.mark.parametrize(("name", "args", "params"), TORCHVISION_LOADS)
def test_torchvision_state_dict_loads_strictly_with_identical_outputs(
    name: str, args: tuple[int, int, int], params: int
) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)()
    randomise_batchnorm(reference, torch.Generator().manual_seed(0)).eval()
    with torch.device("meta"):
        ours = resnext(*args)
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), reference(x))  # same layers in the same order: bit for bit


@pytest.mark.parametrize(("cardinality", "params"), [(8, 34_426_698), (16, 68_155_210)], ids=["8x64d", "16x64d"])
def test_resnext29_has_the_papers_parameter_count(cardinality: int, params: int) -> None:
    # Paper Table 7: ResNeXt-29 8x64d 34.4M, 16x64d 68.1M (10-class head).
    with torch.device("meta"):
        assert count(resnext29(cardinality, 64)) == params
    assert int(params / 1e5) / 10 == {8: 34.4, 16: 68.1}[cardinality]  # the paper truncates 68.155M to 68.1M


def test_stage_widths_double_as_in_table_1() -> None:
    with torch.device("meta"):
        net = resnext(50, 32, 4)
    grouped = [stage[0].conv2.out_channels for stage in net.stages]
    assert grouped == [128, 256, 512, 1024]  # Table 1: C·d per stage for 32x4d
    assert [len(stage) for stage in net.stages] == [3, 4, 6, 3]


def assert_transplants_follow_the_source(source: nn.Module, x: torch.Tensor, training: bool) -> None:
    """Each other form's transplant of ``source`` computes what the untouched ``source`` computes."""
    source.train(training)
    targets = {form: transplant(source, form) for form in "abc" if form != form_of(source)}
    expected = source(x)
    for form, target in targets.items():
        assert form_of(target) == form and target.training is training
        assert relative_error(target(x), expected) <= NETWORK_FP64_RTOL, form


@pytest.mark.slow
@pytest.mark.mutation_slow
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_resnext50_transplants_follow_the_source_in_float64(training: bool) -> None:
    torch.manual_seed(0)
    net = randomise_batchnorm(resnext(50, 32, 4), torch.Generator().manual_seed(0)).double()
    assert_transplants_follow_the_source(net, torch.randn(2, 3, 64, 64, dtype=torch.float64), training)


@pytest.mark.mutation_slow
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_resnext29_transplants_follow_the_source_in_float64(training: bool) -> None:
    torch.manual_seed(0)
    net = randomise_batchnorm(resnext29(8, 64), torch.Generator().manual_seed(0)).double()
    assert_transplants_follow_the_source(net, torch.randn(2, 3, 8, 8, dtype=torch.float64), training)


@pytest.mark.slow
@pytest.mark.mutation_slow
def test_depth_101_transplants_follow_the_source_in_float64() -> None:
    torch.manual_seed(0)
    net = randomise_batchnorm(resnext(101, 32, 4), torch.Generator().manual_seed(0)).double()
    assert_transplants_follow_the_source(net, torch.randn(2, 3, 64, 64, dtype=torch.float64), training=False)


def blocks_of(net: nn.Module) -> list[blocks.ResNeXtBlock]:
    return [block for stage in net.stages for block in stage]


def assert_networks_agree(target: nn.Module, source: nn.Module, rtol: float, grad: bool = False) -> None:
    """Every block's tensors by path (read from each form by hand), and every other tensor by name."""
    for target_block, source_block in zip(blocks_of(target), blocks_of(source), strict=True):
        assert_agree(tensors_by_path(target_block, grad), tensors_by_path(source_block, grad), rtol)
    if grad:
        found, expected = (
            {name: p.grad for name, p in net.named_parameters() if not name.startswith("layer")}
            for net in (target, source)
        )
    else:
        found, expected = (
            {key: t for key, t in net.state_dict().items() if not key.startswith("layer")} for net in (target, source)
        )
    assert_agree(found, expected, rtol)


@pytest.mark.parametrize("mode", MODES)
def test_network_transplant_follows_the_source(direction: tuple[str, str], mode: str) -> None:
    # A ResNeXt-50 2x4d, every direction: outputs, then the running statistics and the
    # gradients that one training step's forward and backward leave, against the source's.
    source_form, target_form = direction
    source = in_mode(small_net(source_form).double(), mode)
    target = transplant(source, target_form)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(4)
    outputs = {}
    for name, net in (("target", target), ("source", source)):
        outputs[name] = net(x)
        nn.functional.cross_entropy(outputs[name], labels).backward()
    assert relative_error(outputs["target"], outputs["source"]) <= NETWORK_FP64_RTOL
    assert_networks_agree(target, source, NETWORK_FP64_RTOL)
    assert_networks_agree(target, source, NETWORK_GRAD_FP64_RTOL, grad=True)


def test_building_a_form_directly_equals_transplanting(direction: tuple[str, str]) -> None:
    built = {}
    for form in direction:
        torch.manual_seed(3)
        built[form] = resnext(50, 4, 4, form=form, num_classes=10, stem="cifar")
    source, target = (built[form] for form in direction)
    assert form_of(target) == direction[1]
    assert_networks_agree(transplant(source, direction[1]), target, rtol=0)  # bit for bit
    assert_networks_agree(source, target, rtol=0)  # one draw, cut for each form


BAD_ARGUMENTS = [
    (dict(depth=34), r"depth must be one of \[50, 101, 152\], got 34"),
    (dict(cardinality=0), "cardinality must be a positive int, got 0"),
    (dict(width=2.0), "width must be a positive int, got 2.0"),
    (dict(num_classes=-1), "num_classes must be a positive int, got -1"),
    (dict(stem="tiny"), r"stem must be one of \['imagenet', 'cifar'\], got 'tiny'"),
    (dict(form="d"), r"form must be one of \['a', 'b', 'c'\], got 'd'"),
]


@pytest.mark.parametrize(("change", "message"), BAD_ARGUMENTS, ids=[next(iter(c)) for c, _ in BAD_ARGUMENTS])
def test_invalid_arguments_are_named(change: dict, message: str) -> None:
    arguments = dict(depth=50, cardinality=2, width=4) | change
    with pytest.raises(ValueError, match=message), torch.device("meta"):
        resnext(**arguments)


@pytest.mark.parametrize(
    ("stage_blocks", "message"),
    [((), r"stage_blocks must be a non-empty tuple"), ((3, -1), r"stage_blocks\[1\] must be a positive int, got -1")],
    ids=["empty", "negative"],
)
def test_invalid_stage_blocks_are_named(stage_blocks: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message), torch.device("meta"):
        blocks.ResNeXt(stage_blocks, 2, 4)


@pytest.mark.parametrize("hidden", [None, 32], ids=["linear", "hidden-32"])
def test_replace_head_returns_a_new_network_and_keeps_the_old(hidden: int | None) -> None:
    net = small_net()
    x = torch.randn(2, 3, 16, 16)
    before = net(x)
    new = replace_head(net, 3, hidden=hidden, dropout=0.1).eval()
    assert new(x).shape == (2, 3) and torch.equal(net(x), before)
    assert net.fc.out_features == 10 and new.conv1 is not net.conv1
    assert torch.equal(new.layer1[0].conv2.weight, net.layer1[0].conv2.weight)
    linears = [m for m in new.fc.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == ([3] if hidden is None else [32, 3])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(num_classes=0), "num_classes must be a positive int, got 0"),
        (dict(num_classes=3, hidden=0), "hidden must be a positive int, got 0"),
        (dict(num_classes=3, dropout=1.0), r"dropout must be a float in \[0, 1\), got 1.0"),
    ],
    ids=["num_classes", "hidden", "dropout"],
)
def test_replace_head_rejects_bad_arguments(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace_head(small_net(), **arguments)


def test_replace_head_needs_an_fc() -> None:
    with pytest.raises(ValueError, match="Sequential has no classifier 'fc'"):
        replace_head(nn.Sequential(nn.Linear(2, 2)), 3)


SAME_AND_OTHER = [(s, t) for s in "abc" for t in "abc"]


@pytest.mark.parametrize(("source_form", "target_form"), SAME_AND_OTHER, ids=[f"{s}->{t}" for s, t in SAME_AND_OTHER])
@pytest.mark.parametrize("cardinality", [1, 2], ids=["C1", "C2"])
def test_a_network_and_its_copy_stay_apart_in_every_form(source_form: str, target_form: str, cardinality: int) -> None:
    # A ResNeXt-29 with one path (a ResNet's layout in every form) or two, moved into its own form too:
    # the copy computes what its source did, and changing the copy leaves the source alone.
    torch.manual_seed(0)
    source = randomise_batchnorm(resnext29(cardinality, 2, form=source_form), torch.Generator().manual_seed(1))
    source = source.double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        before = source(x)
        target = transplant(source, target_form).eval()
        assert relative_error(target(x), before) <= NETWORK_FP64_RTOL
        for parameter in target.parameters():
            parameter.add_(1.0)
        for buffer in target.buffers():
            buffer.add_(1)
        assert torch.equal(source(x), before)


@pytest.mark.parametrize(("source_form", "target_form"), SAME_AND_OTHER, ids=[f"{s}->{t}" for s, t in SAME_AND_OTHER])
def test_a_lone_block_is_the_smallest_network(source_form: str, target_form: str) -> None:
    # transplant given a block itself, not a network holding one: the copy computes what its source did.
    torch.manual_seed(0)
    source = randomise_batchnorm(build(BlockSpec(8, 12, 3, 2, stride=2), source_form), torch.Generator().manual_seed(1))
    source = source.double().eval()
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(transplant(source, target_form).eval()(x), source(x)) <= NETWORK_FP64_RTOL


# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.


# --- networks: replace_head and resnext --------------------------------------------------------

HEAD_PLACES = [
    pytest.param(torch.float64, "cpu", id="float64"),
    pytest.param(torch.float32, "meta", id="meta"),
    pytest.param(
        torch.float32,
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ),
]


@pytest.mark.parametrize("hidden", [None, 16], ids=["linear", "hidden-16"])
@pytest.mark.parametrize(("dtype", "device"), HEAD_PLACES)
def test_replace_head_keeps_dtype_and_device(dtype: torch.dtype, device: str, hidden: int | None) -> None:
    net = small_resnext().to(device, dtype)
    new = blocks.replace_head(net, 3, hidden=hidden)
    assert {(p.dtype, p.device.type) for p in new.parameters()} == {(dtype, device)}
    out = new.eval()(torch.zeros(2, 3, 8, 8, dtype=dtype, device=device))
    assert out.shape == (2, 3) and out.dtype == dtype


@pytest.mark.parametrize("net", NOT_MODULES, ids=NOT_MODULE_IDS)
def test_replace_head_of_a_non_module_is_a_type_error(net: object) -> None:
    with pytest.raises(TypeError, match=f"net must be a torch.nn.Module, got {type(net).__name__}"):
        blocks.replace_head(net, 10)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("depth", "error", "message"),
    [
        ([50], TypeError, r"depth must be an int, one of \[50, 101, 152\], got list \[50\]"),
        ("50", TypeError, r"depth must be an int, one of \[50, 101, 152\], got str '50'"),
        (None, TypeError, r"depth must be an int, one of \[50, 101, 152\], got NoneType None"),
        (50.0, ValueError, r"depth must be one of \[50, 101, 152\], got 50.0"),
        (True, ValueError, r"depth must be one of \[50, 101, 152\], got True"),
    ],
    ids=["list", "str", "None", "float", "bool"],
)
def test_resnext_depth_that_is_not_an_int(depth: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message), torch.device("meta"):
        blocks.resnext(depth, 32, 4)  # type: ignore[arg-type]


# --- networks that cannot fit: estimated first, refused with the estimate ---------------------------

NETWORKS = {
    "resnext50-a": ((3, 4, 6, 3), 32, 4, "a", 1000, "imagenet", 256),
    "resnext29-b": ((3, 3, 3), 8, 64, "b", 10, "cifar", 256),
    "small-c": ((1, 1, 1), 4, 4, "c", 10, "cifar", 64),
}


@pytest.mark.parametrize("arguments", NETWORKS.values(), ids=NETWORKS.keys())
def test_network_footprint_is_the_built_networks(arguments: tuple) -> None:
    with torch.device("meta"):
        net = blocks.ResNeXt(*arguments)
    assert network_footprint(*arguments) == Footprint(
        values=sum(t.numel() for t in net.state_dict().values()), modules=len(list(net.modules()))
    )


TOO_BIG: dict[str, tuple[Callable[[], object], str]] = {
    "resnext-num_classes-1e9": (
        lambda: blocks.resnext(50, 32, 4, num_classes=10**9),
        r"ResNeXt: 16 blocks of 32x4d in form 'c' with 1,000,000,000 classes, .+ would need about 7,633.2 GiB",
    ),
    "resnext-a-C=1024": (
        lambda: blocks.resnext(101, 1024, 4, form="a"),
        r"ResNeXt: 33 blocks of 1024x4d in form 'a' with 1,000 classes would make 236,699 modules",
    ),
    "resnext29-d=1e5": (lambda: blocks.resnext29(8, 10**5), r"ResNeXt: 9 blocks of 8x100000d in form 'c'"),
    "stage_blocks-1e8": (
        lambda: blocks.ResNeXt((10**8,), 2, 2),
        r"ResNeXt: 100,000,000 blocks of 2x2d in form 'c' with 1,000 classes would make 800,000,011 modules",
    ),
}


@pytest.mark.parametrize(("make", "message"), TOO_BIG.values(), ids=TOO_BIG.keys())
def test_what_cannot_fit_is_refused_with_the_estimate(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [resnext29, lambda **kw: resnext(50, **kw)], ids=["resnext29", "resnext50"])
def test_the_old_width_keyword_still_builds_the_network_and_names_base_width(make: Callable[..., nn.Module]) -> None:
    with torch.device("meta"), pytest.warns(DeprecationWarning, match=r"width= is now base_width="):
        old = make(cardinality=2, width=4)
    with torch.device("meta"):
        new = make(cardinality=2, base_width=4)
    assert [(k, v.shape) for k, v in old.state_dict().items()] == [(k, v.shape) for k, v in new.state_dict().items()]
