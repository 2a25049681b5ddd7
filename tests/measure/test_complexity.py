"""Params and FLOPs: three counting methods agree, and the paper's tables come out."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

import blocks
from blocks import BlockSpec, complexity
from blocks.cli import main
from blocks.measure.census import census
from blocks.measure.tables import Table, format_tables, forms_table, networks_table, table1, table2

from tests.helpers.cases import SPECS, spec_id

IMAGENET = (1, 3, 224, 224)
CIFAR = (1, 3, 32, 32)
CONV2_SIZE = 56  # conv2 stage feature map at 224x224 input
PAPER_TABLE2_PARAMS = 70_000  # paper Table 2: "~70k" params per template
TABLE2_PARAMS_RTOL = 0.03  # the paper's templates are "nearly" equal: 8x14d is 71,456, 2.1% off


def meta(make: Callable[[], nn.Module]) -> nn.Module:
    with torch.device("meta"):
        return make()


def assert_layers_agree(cost: blocks.Complexity) -> None:
    """Every Conv2d/Linear layer: closed form == FlopCounterMode, closed form + bias adds == torchinfo."""
    assert cost.layers, "nothing was counted"
    for layer in cost.layers:
        assert layer.macs == layer.flop_counter_macs, layer
        assert layer.macs + layer.bias_adds == layer.torchinfo_macs, layer
        assert layer.params == layer.torchinfo_params, layer
    assert cost.params == cost.torchinfo_params
    assert cost.macs == cost.flop_counter_macs  # no MACs outside the Conv2d/Linear layers
    assert cost.disagreements == ()


# --- blocks: every form, closed form against the two libraries ---------------------------------


@pytest.mark.parametrize("form", sorted(blocks.FORMS))
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_methods_agree_layer_by_layer_in_every_form(spec: BlockSpec, form: str) -> None:
    cost = complexity(meta(lambda: blocks.build(spec, form)), (2, spec.in_channels, 8, 8))
    assert_layers_agree(cost)
    reference = complexity(spec, (2, spec.in_channels, 8, 8))  # a spec is counted as form (c)
    assert (cost.params, cost.macs) == (reference.params, reference.macs)


def test_grouped_conv_follows_the_closed_form() -> None:
    # 32x4d conv2 block at 56x56: conv2 is 3x3, 128 -> 128 in 32 groups of 4 input channels.
    cost = complexity(BlockSpec(256, 256, cardinality=32, width=4), (1, 256, CONV2_SIZE, CONV2_SIZE))
    conv2 = next(layer for layer in cost.layers if layer.name == "conv2")
    assert conv2.params == 3 * 3 * (128 // 32) * 128 == 4_608
    assert conv2.macs == 4_608 * CONV2_SIZE * CONV2_SIZE == 14_450_688
    assert conv2.shape == "3x3, 128->128, 32 groups, stride 1"


def test_counts_are_per_image() -> None:
    spec = BlockSpec(64, 256, cardinality=4, width=8, stride=2)
    one, three = (complexity(spec, (batch, 64, 16, 16)) for batch in (1, 3))
    assert (one.macs, one.activation_bytes, one.torchinfo_macs) == (
        three.macs,
        three.activation_bytes,
        three.torchinfo_macs,
    )


def test_real_weights_count_as_meta_ones() -> None:
    spec = BlockSpec(12, 20, cardinality=3, width=5, stride=2)
    on_cpu = complexity(blocks.build(spec, "a"), (2, 12, 8, 8))
    assert_layers_agree(on_cpu)
    assert on_cpu == complexity(meta(lambda: blocks.build(spec, "a")), (2, 12, 8, 8))


def test_module_is_left_as_it_was() -> None:
    block = blocks.build(BlockSpec(16, 16, cardinality=2, width=4), "a").train()
    block.paths[1].eval()  # a mixed mode must come back too
    before = {k: v.clone() for k, v in block.state_dict().items()}
    complexity(block, (4, 16, 8, 8))
    assert block.training and not block.paths[1].training and block.paths[0].training
    assert all(torch.equal(before[k], v) for k, v in block.state_dict().items())  # no BN statistics moved


def test_form_costs_differ_where_the_paper_says_they_do() -> None:
    spec = BlockSpec(256, 256, cardinality=32, width=4)
    a, b, c = (complexity(meta(functools.partial(blocks.build, spec, form)), (1, 256, 56, 56)) for form in "abc")
    assert a.params == b.params == c.params and a.macs == b.macs == c.macs
    # 3 convolutions per path in (a); 2 per path + one shared 1x1 in (b); 3 in all in (c).
    assert (a.conv_calls, b.conv_calls, c.conv_calls) == (3 * 32, 2 * 32 + 1, 3)
    assert a.modules > b.modules > c.modules
    assert a.activation_bytes > b.activation_bytes > c.activation_bytes


def test_census_counts_one_set_of_kernels_per_path() -> None:
    spec = BlockSpec(16, 16, cardinality=4, width=2)
    x = torch.randn(1, 16, 4, 4)
    a, c = (blocks.build(spec, form).eval() for form in "ac")
    # form (a): 3 convolutions per path; form (c): 3 in all (paper Figure 3)
    assert census(a, x).calls["convolution"] == 3 * spec.cardinality
    assert census(c, x).calls["convolution"] == 3


@pytest.mark.parametrize(
    ("run", "new_tensors", "moved_tensors"),
    [
        (torch.relu, 1, 2),  # reads x, writes a new tensor
        (lambda x: torch.relu_(x.clone()), 1, 4),  # clone reads and writes; relu_ reads and writes back
        (lambda x: x.view(-1), 0, 0),  # a view touches no memory
        (lambda x: torch.cat([x, x]), 2, 4),  # reads x twice, writes twice its size
    ],
    ids=["relu", "clone-then-relu_", "view", "cat"],
)
def test_census_counts_new_tensors_and_moved_bytes(
    run: Callable[[torch.Tensor], torch.Tensor], new_tensors: int, moved_tensors: int
) -> None:
    x = torch.randn(2, 3, 4, 4)
    counted = census(run, x)
    assert counted.bytes_written == new_tensors * x.numel() * x.element_size()
    assert counted.bytes_moved == moved_tensors * x.numel() * x.element_size()


def test_census_moves_the_weights_too() -> None:
    conv = nn.Conv2d(3, 5, 1, bias=False)
    x = torch.randn(2, 3, 4, 4)  # out: (2, 5, 4, 4)
    assert census(conv, x).bytes_moved == 4 * (x.numel() + conv.weight.numel() + 2 * 5 * 4 * 4)


# --- disagreements are reported, not hidden ------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "input_size", "method"),
    [
        (nn.Linear(8, 16), (2, 5, 8), "torchinfo"),  # torchinfo ignores the 5 positions of a 3-d input
    ],
    ids=["linear-on-3d-input"],
)
def test_disagreement_is_reported(module: nn.Module, input_size: tuple[int, ...], method: str) -> None:
    cost = complexity(module, input_size)
    assert not cost.agree
    assert any(method in line for line in cost.disagreements)


@pytest.mark.parametrize(
    ("argument", "input_size", "message"),
    [
        (BlockSpec(16, 16, 2, 4), (16, 8, 8), "input_size must be (batch, 16, height, width)"),
        (BlockSpec(16, 16, 2, 4), (1, 8, 8, 8), "input_size must be (batch, 16, height, width)"),
        (BlockSpec(16, 16, 2, 4), [1, 16, 8, 8], "input_size must be a tuple of positive ints"),
        (nn.Conv2d(3, 4, 1), (0, 3, 8, 8), "input_size must be a tuple of positive ints"),
    ],
    ids=["no-batch", "wrong-channels", "list", "zero-batch"],
)
def test_bad_input_size_is_named(argument: object, input_size: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        complexity(argument, input_size)


@pytest.mark.parametrize(
    ("module", "input_size", "message"),
    [
        (
            nn.Conv2d(3, 4, 3),
            (1, 5, 8, 8),
            r"complexity: Conv2d fails on an input of input_size=\(1, 5, 8, 8\): RuntimeError: Given groups=1",
        ),
        (
            nn.Conv2d(3, 4, 3),
            (1, 3, 10**6, 10**6),
            # the input (11,175.9 GiB) and the convolution's output (14,901.1 GiB), found before anything runs
            r"complexity: one forward pass on an input of input_size=\(1, 3, 1000000, 1000000\) in torch.float32"
            r" would need about 26,077.0 GiB",
        ),
    ],
    ids=["fails-in-forward", "input-over-the-memory-limit"],
)
def test_a_model_that_cannot_be_counted_is_a_value_error(
    module: nn.Module, input_size: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as error:
        complexity(module, input_size)
    assert type(error.value) is ValueError  # not torchinfo's RuntimeError, not a private subclass


def test_a_huge_input_is_counted_on_the_meta_device() -> None:
    with torch.device("meta"):
        conv = nn.Conv2d(3, 4, 3)
    assert complexity(conv, (1, 3, 10**6, 10**6)).macs == 3 * 3 * 3 * 4 * (10**6 - 2) ** 2  # no memory needed


def test_not_a_module_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"spec_or_module must be a blocks.BlockSpec or a torch.nn.Module, got str"):
        complexity("resnext50", IMAGENET)


# --- networks: exact torchvision counts, rounded as the paper rounds ------------------------------

# (ours, torchvision's, params, MACs): torchvision's model cards list these params and
# 4.09 / 4.23 / 16.41 / 15.46 GFLOPS (multiply-adds) at 224x224.
TORCHVISION = [
    (lambda: blocks.resnext(50, 1, 64), torchvision.models.resnet50, 25_557_032, 4_089_184_256),
    (lambda: blocks.resnext(50, 32, 4), torchvision.models.resnext50_32x4d, 25_028_904, 4_230_479_872),
    (lambda: blocks.resnext(101, 32, 8), torchvision.models.resnext101_32x8d, 88_791_336, 16_414_015_488),
    (lambda: blocks.resnext(101, 64, 4), torchvision.models.resnext101_64x4d, 83_455_272, 15_460_270_080),
]
TORCHVISION_IDS = ["resnet50", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"]
TORCHVISION_GFLOPS = {"resnet50": 4.09, "resnext50_32x4d": 4.23, "resnext101_32x8d": 16.41, "resnext101_64x4d": 15.46}


@pytest.mark.parametrize(("ours", "theirs", "params", "macs"), TORCHVISION, ids=TORCHVISION_IDS)
def test_networks_match_torchvision_exactly(
    ours: Callable[[], nn.Module],
    theirs: Callable[[], nn.Module],
    params: int,
    macs: int,
    request: pytest.FixtureRequest,
) -> None:
    for make in (ours, theirs):
        cost = complexity(meta(make), IMAGENET)
        assert_layers_agree(cost)
        assert (cost.params, cost.macs) == (params, macs)
    assert round(macs / 1e9, 2) == TORCHVISION_GFLOPS[request.node.callspec.id]


# Paper Table 7 (CIFAR-10): ResNeXt-29 8x64d 34.4M and 16x64d 68.1M params (without BN).
@pytest.mark.parametrize(("cardinality", "paper_params_m"), [(8, 34.4), (16, 68.1)], ids=["8x64d", "16x64d"])
def test_resnext29_params_round_as_the_paper(cardinality: int, paper_params_m: float) -> None:
    cost = complexity(meta(lambda: blocks.resnext29(cardinality, 64)), CIFAR)
    assert_layers_agree(cost)
    assert round(cost.weight_params / 1e6, 1) == paper_params_m


# --- paper Table 2 ------------------------------------------------------------------------------

# (C, d, conv weights): 256·C·d + 9·d·C·d + C·d·256, by hand.
TABLE2 = [(1, 64, 69_632), (2, 40, 69_760), (4, 24, 69_888), (8, 14, 71_456), (32, 4, 70_144)]


def test_table2_templates() -> None:
    templates = blocks.table2_templates()
    assert [(t.cardinality, t.width, t.weight_params) for t in templates] == TABLE2
    for t in templates:
        assert t.grouped_channels == t.cardinality * t.width
        assert t.weight_params == pytest.approx(PAPER_TABLE2_PARAMS, rel=TABLE2_PARAMS_RTOL)
        assert t.macs == t.weight_params * CONV2_SIZE * CONV2_SIZE  # every weight once per output pixel
        assert round(t.macs / 1e9, 2) == 0.22  # paper: "~0.22 billion FLOPs"
        assert t.params > t.weight_params  # plus BN


# --- the tables command ---------------------------------------------------------------------------


# The forms table for 4x8d instead of 32x4d: the same checks at an eighth of the paths, as
# ResNeXt-50 32x4d in form (a) (3,671 modules) takes seconds to count.
FORMS_CARDINALITY, FORMS_WIDTH = 4, 8


@pytest.fixture(scope="module")
def tables() -> dict[str, Table]:
    """The tables of ``python -m blocks tables``, computed once for this module."""
    computed = [table1(), table2(), forms_table(FORMS_CARDINALITY, FORMS_WIDTH), networks_table()]
    return {table.title.split(":")[0]: table for table in computed}


def column(table: Table, name: str) -> list[object]:
    return [row[table.columns.index(name)] for row in table.rows]


@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_tables_have_no_disagreements(tables: dict[str, Table]) -> None:
    assert [line for table in tables.values() for line in table.disagreements] == []


# Paper Table 1: "# params. 25.5 × 10^6 / 25.0 × 10^6, FLOPs 4.1 × 10^9 / 4.2 × 10^9"; the
# paper's params leave out BN (25,557,032 with BN would round to 25.6M).
@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_table1_stage_by_stage(tables: dict[str, Table]) -> None:
    table = tables["Table 1"]
    assert column(table, "stage") == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc", "total", "as the paper rounds"]
    assert column(table, "output")[:6] == ["112x112", "56x56", "28x28", "14x14", "7x7", "1x1"]
    for name, params, macs, paper in (
        ("ResNet-50", 25_557_032, 4_089_184_256, ("25.5M", 4.1)),
        ("ResNeXt-50 (32x4d)", 25_028_904, 4_230_479_872, ("25.0M", 4.2)),
    ):
        stage_params, stage_macs = column(table, f"{name} params"), column(table, f"{name} MACs")
        assert stage_params[6] == sum(stage_params[:6]) == params
        assert stage_macs[6] == sum(stage_macs[:6]) == macs
        assert (stage_params[7], stage_macs[7]) == paper
    assert column(table, "ResNeXt-50 (32x4d) template")[1] == "[1x1, 128; 3x3, 128, C=32; 1x1, 256] x3"
    assert column(table, "ResNet-50 template")[1] == "[1x1, 64; 3x3, 64; 1x1, 256] x3"


@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_forms_table_same_arithmetic_different_work(tables: dict[str, Table]) -> None:
    table = tables["Forms (a), (b), (c)"]
    for subject in dict.fromkeys(column(table, "subject")):
        rows = {row[1]: dict(zip(table.columns, row)) for row in table.rows if row[0] == subject}
        assert list(rows) == ["a", "b", "c"]
        assert len({(r["params"], r["MACs per image"]) for r in rows.values()}) == 1
        for measure in ("modules", "convolution calls", "activations (MiB per image)"):
            assert rows["a"][measure] > rows["b"][measure] > rows["c"][measure], measure
    block = complexity(BlockSpec(256, 256, FORMS_CARDINALITY, FORMS_WIDTH), (1, 256, 56, 56))
    assert table.rows[0][2:4] == (block.params, block.macs)


@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_networks_table(tables: dict[str, Table]) -> None:
    table = tables["Larger ResNeXts"]
    assert column(table, "params") == [88_791_336, 83_455_272, 34_426_698, 68_155_210]
    assert column(table, "params without BN")[2:] == ["34.4M", "68.1M"]
    assert column(table, "GFLOPs")[:2] == [16.41, 15.46]


@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_formats(tables: dict[str, Table]) -> None:
    text = format_tables(list(tables.values()), "csv")
    table1 = text.split("\n\n")[0]
    rows = list(csv.reader(io.StringIO(table1.split("\n", 1)[1])))
    assert rows[0][0] == "stage" and rows[7][4] == "4089184256"  # exact integers, no separators
    markdown = format_tables(list(tables.values()), "markdown")
    assert "| total |  |  | 25,557,032 | 4,089,184,256 |" in markdown
    with pytest.raises(ValueError, match="fmt must be one of"):
        format_tables([], "html")


@pytest.mark.slow  # tables: every table of python -m blocks tables, counted
def test_cli_tables(
    tables: dict[str, Table], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("blocks.measure.tables.all_tables", lambda: list(tables.values()))  # already computed above
    assert main(["tables", "--format", "csv"]) == 0
    assert "# Table 2: conv2 block templates" in capsys.readouterr().out
