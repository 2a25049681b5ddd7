"""The paper's cost tables, recounted: ``python -m blocks tables``.

Every number comes from :func:`blocks.complexity` (closed form, torchinfo and
FlopCounterMode agreeing), on networks built on the meta device (shapes only, no
memory, so ResNeXt-101 counts in a fraction of a second).

- :func:`table1`: paper Table 1, ResNet-50 vs ResNeXt-50 (32x4d) stage by stage.
- :func:`table2`: paper Table 2, conv2 block templates of cardinality 1 … 32 at ~equal cost.
- :func:`forms_table`: forms (a), (b), (c) of one block and of ResNeXt-50: the same params
  and MACs, but different module counts, convolution calls and activation memory.
- :func:`networks_table`: ResNeXt-101 (32x8d, 64x4d) and the CIFAR ResNeXt-29 (8x64d, 16x64d).
- :func:`layers_table`: one count layer by layer, the three methods side by side.

How the paper rounds: its "FLOPs" are multiply-adds (MACs) in billions, and its
parameter counts leave out BatchNorm's weights and biases. ResNet-50 has 25,557,032
parameters (torchvision's count), of which 53,120 are BN's: 25,503,912 without them,
the paper's "25.5M" (25.6M with them). The tables give both counts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from blocks.core.build import build
from blocks.core.forms import FORMS
from blocks.core.spec import BlockSpec
from blocks.measure.complexity import TABLE2_CHANNELS, TABLE2_SIZE, Complexity, complexity, table2_templates
from blocks.models.networks import ResNeXt, resnext, resnext29
from blocks.util.text import Cell, render_table

_M = TypeVar("_M", bound=nn.Module)

TABLE_OUTPUTS = ("markdown", "csv")
IMAGENET_INPUT = (1, 3, 224, 224)
CIFAR_INPUT = (1, 3, 32, 32)
# Stages as the paper's Table 1 names them, and the modules of ours (torchvision's names) in each.
STAGES: dict[str, tuple[str, ...]] = {
    "conv1": ("conv1", "bn1"),
    "conv2": ("layer1",),
    "conv3": ("layer2",),
    "conv4": ("layer3",),
    "conv5": ("layer4",),
    "fc": ("fc",),
}


@dataclass(frozen=True)
class Table:
    """A table to print: a title, column names, rows of cells, and what to look at.

    Integers are exact counts (printed with thousands separators in markdown);
    floats are already rounded for reading.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str
    disagreements: tuple[str, ...] = ()

    def to_markdown(self) -> str:
        """The table as GitHub markdown, with its title above and its note below."""
        return "\n".join([f"### {self.title}", "", render_table(self.columns, self.rows), "", self.note])

    def to_csv(self) -> str:
        """The table as CSV (exact integers, no separators), preceded by a ``# title`` line."""
        buffer = io.StringIO()
        buffer.write(f"# {self.title}\n")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buffer.getvalue()


def table1() -> Table:
    """Paper Table 1: ResNet-50 and ResNeXt-50 (32x4d), params and MACs stage by stage at 224x224.

    Returns:
        One row per stage (conv1 … fc), a total row with the exact counts
        (25,557,032 / 25,028,904 params, 4,089,184,256 / 4,230,479,872 MACs), and a row
        rounded as the paper rounds (25.5M / 4.1 and 25.0M / 4.2).
    """
    networks = {"ResNet-50": _imagenet_network(50, 1, 64), "ResNeXt-50 (32x4d)": _imagenet_network(50, 32, 4)}
    costs = {name: complexity(net, IMAGENET_INPUT) for name, net in networks.items()}
    columns = ["stage", "output"]
    for name in networks:
        columns += [f"{name} template", f"{name} params", f"{name} MACs"]
    rows: list[tuple[Cell, ...]] = []
    for stage in STAGES:
        row: list[Cell] = [stage, _stage_output(next(iter(costs.values())), stage)]
        for name, net in networks.items():
            row += [_template_text(net, stage), _stage_params(net, stage), _stage_macs(costs[name], stage)]
        rows.append(tuple(row))
    total: list[Cell] = ["total", ""]
    paper: list[Cell] = ["as the paper rounds", ""]
    for cost in costs.values():
        total += ["", cost.params, cost.macs]
        paper += ["params without BN, GFLOPs", f"{_millions(cost.weight_params)}M", _billions(cost.macs)]
    rows += [tuple(total), tuple(paper)]
    return Table(
        title="Table 1: ResNet-50 vs ResNeXt-50 (32x4d), 224x224 input",
        columns=tuple(columns),
        rows=tuple(rows),
        note="Params include BN (torchvision's counts); MACs are multiply-adds per image, the paper's"
        " FLOPs. Each ResNeXt stage has twice ResNet's bottleneck width (C·d = 128 vs 64 in conv2) but"
        " its 3x3 is grouped (C = 32), so the two networks cost almost the same. The paper's"
        " 25.5M and 25.0M leave out BN's parameters.",
        disagreements=_all_disagreements(costs.values()),
    )


def table2() -> Table:
    """Paper Table 2: conv2 block templates of cardinality 1, 2, 4, 8, 32 at about the same cost.

    Returns:
        One row per template (see :func:`blocks.table2_templates`).
    """
    rows = tuple(
        (
            t.cardinality,
            t.width,
            t.grouped_channels,
            t.weight_params,
            t.params,
            t.macs,
            _billions(t.macs, digits=2),
        )
        for t in table2_templates()
    )
    return Table(
        title=f"Table 2: conv2 block templates, {TABLE2_CHANNELS} -> {TABLE2_CHANNELS} channels,"
        f" {TABLE2_SIZE}x{TABLE2_SIZE} input",
        columns=(
            "cardinality C",
            "width d",
            "group conv width C·d",
            "params (conv weights, the paper's ~70k)",
            "params with BN",
            "MACs per image",
            "GFLOPs (paper ~0.22)",
        ),
        rows=rows,
        note="More paths, each narrower: d is chosen so that the three convolutions' weights,"
        " 256·(C·d) + 9·d·(C·d) + (C·d)·256, stay near 70k; every weight is used once per output"
        " pixel, so the MACs are these weights times 56·56.",
    )


def forms_table(cardinality: int = 32, width: int = 4) -> Table:
    """Forms (a), (b), (c) of one conv2 block (256 -> 256, 56x56) and of ResNeXt-50 (224x224).

    Args:
        cardinality: C of the block and the network (32: ResNeXt-50 32x4d).
        width: d of the block and of the network's first stage (4).

    Returns:
        One row per subject and form: params and MACs (identical), modules,
        convolution calls and activation memory (which differ, and explain speed).
    """
    spec = BlockSpec(TABLE2_CHANNELS, TABLE2_CHANNELS, cardinality, width)
    name = f"{cardinality}x{width}d"
    subjects: dict[str, tuple[Callable[[str], nn.Module], tuple[int, ...]]] = {
        f"block 256->256, {name}, 56x56": (lambda form: _on_meta(lambda: build(spec, form)), (1, 256, 56, 56)),
        f"ResNeXt-50 ({name}), 224x224": (lambda form: _imagenet_network(50, cardinality, width, form), IMAGENET_INPUT),
    }
    rows: list[tuple[Cell, ...]] = []
    costs: list[Complexity] = []
    for subject, (make, input_size) in subjects.items():
        for form in FORMS:
            cost = complexity(make(form), input_size)
            costs.append(cost)
            mib = round(cost.activation_bytes / 2**20, 1)
            rows.append((subject, form, cost.params, cost.macs, cost.modules, cost.conv_calls, mib))
    return Table(
        title="Forms (a), (b), (c): the same arithmetic, different work for the machine",
        columns=(
            "subject",
            "form",
            "params",
            "MACs per image",
            "modules",
            "convolution calls",
            "activations (MiB per image)",
        ),
        rows=tuple(rows),
        note="Params and MACs are identical: the forms compute the same function with the same"
        " weights. Per block, form (a) launches 3 convolutions per path (3·C) and writes a full"
        " 256-channel output per path before summing them; form (b) 2 per path plus one shared 1x1;"
        " form (c) 3 in all, its 3x3 grouped. Activations: every tensor the float32 forward pass writes.",
        disagreements=_all_disagreements(costs),
    )


def networks_table() -> Table:
    """ResNeXt-101 (32x8d, 64x4d) at 224x224 and ResNeXt-29 (8x64d, 16x64d) at 32x32: params and FLOPs.

    Returns:
        One row per network.
    """
    networks = {
        "ResNeXt-101 (32x8d)": (_imagenet_network(101, 32, 8), IMAGENET_INPUT),
        "ResNeXt-101 (64x4d)": (_imagenet_network(101, 64, 4), IMAGENET_INPUT),
        "ResNeXt-29 (8x64d)": (_on_meta(lambda: resnext29(8, 64)), CIFAR_INPUT),
        "ResNeXt-29 (16x64d)": (_on_meta(lambda: resnext29(16, 64)), CIFAR_INPUT),
    }
    rows: list[tuple[Cell, ...]] = []
    costs = []
    for name, (net, input_size) in networks.items():
        cost = complexity(net, input_size)
        costs.append(cost)
        size = f"{input_size[2]}x{input_size[3]}"
        rows.append((name, size, cost.params, f"{_millions(cost.weight_params)}M", cost.macs, _billions(cost.macs, 2)))
    return Table(
        title="Larger ResNeXts: ImageNet ResNeXt-101 and CIFAR ResNeXt-29",
        columns=("network", "input", "params", "params without BN", "MACs per image", "GFLOPs"),
        rows=tuple(rows),
        note="ResNeXt-101's params match torchvision's models (88,791,336 and 83,455,272); the paper"
        " lists ResNeXt-29 8x64d and 16x64d at 34.4M and 68.1M (without BN), 10 CIFAR classes.",
        disagreements=_all_disagreements(costs),
    )


def layers_table(cost: Complexity, title: str) -> Table:
    """Every Conv2d and Linear layer of one count, with the three methods side by side.

    Args:
        cost: a count from :func:`blocks.complexity`.
        title: the table's title, e.g. the block counted.

    Returns:
        One row per layer: its shape, output, params, and MACs by the closed form,
        torchinfo (which adds the bias additions) and FlopCounterMode (FLOPs / 2).
    """
    rows = tuple(
        (
            layer.name,
            layer.shape,
            "x".join(map(str, layer.output_size)),
            layer.params,
            layer.macs,
            "-" if layer.torchinfo_macs is None else layer.torchinfo_macs,  # "-": no hook of it ran (``hookless``)
            "-" if layer.flop_counter_macs is None else layer.flop_counter_macs,
        )
        for layer in cost.layers
    )
    verdict = "The three methods agree." if cost.agree else "DISAGREEMENTS: " + "; ".join(cost.disagreements)
    return Table(
        title=title,
        columns=("layer", "shape", "output", "params", "MACs, closed form", "MACs, torchinfo", "MACs, FlopCounterMode"),
        rows=rows,
        note=f"{verdict} Total: {cost.params:,} params (BN included), {cost.macs:,} MACs per image.",
        disagreements=cost.disagreements,
    )


def all_tables() -> list[Table]:
    """Every table of ``python -m blocks tables``, in the order printed."""
    return [table1(), table2(), forms_table(), networks_table()]


def format_tables(tables: list[Table], fmt: str = "markdown") -> str:
    """The tables as one text, markdown or CSV, separated by blank lines.

    Raises:
        ValueError: ``fmt`` is not "markdown" or "csv".
    """
    if fmt not in TABLE_OUTPUTS:
        raise ValueError(f"fmt must be one of {list(TABLE_OUTPUTS)}, got {fmt!r}")
    return "\n\n".join(table.to_markdown() if fmt == "markdown" else table.to_csv() for table in tables)


def _on_meta(make: Callable[[], _M]) -> _M:
    with torch.device("meta"):  # shapes only: no memory, no random draws
        return make()


def _imagenet_network(depth: int, cardinality: int, width: int, form: str = "c") -> ResNeXt:
    return _on_meta(lambda: resnext(depth, cardinality, width, form))


def _stage_of(name: str) -> str:
    top = name.split(".")[0]
    return next(stage for stage, modules in STAGES.items() if top in modules)


def _stage_params(net: nn.Module, stage: str) -> int:
    return sum(p.numel() for name, p in net.named_parameters() if _stage_of(name) == stage)


def _stage_macs(cost: Complexity, stage: str) -> int:
    return sum(layer.macs for layer in cost.layers if _stage_of(layer.name) == stage)


def _stage_output(cost: Complexity, stage: str) -> str:
    """The spatial size a stage outputs: conv1 112x112, conv2 56x56 (after the max-pool), …"""
    last = [layer for layer in cost.layers if _stage_of(layer.name) == stage][-1]
    return "1x1" if len(last.output_size) == 1 else f"{last.output_size[1]}x{last.output_size[2]}"


def _template_text(net: ResNeXt, stage: str) -> str:
    """A stage as the paper's Table 1 writes it, e.g. "[1x1, 128; 3x3, 128, C=32; 1x1, 256] x3"."""
    if stage == "conv1":
        kernel = net.conv1.kernel_size[0]
        return f"{kernel}x{kernel}, {net.conv1.out_channels}, stride {net.conv1.stride[0]}"
    if stage == "fc":
        return f"global average pool, {net.fc.out_features}-d fc"
    blocks = getattr(net, STAGES[stage][0])
    spec = blocks[0].spec
    width = spec.grouped_channels
    groups = f", C={spec.cardinality}" if spec.cardinality > 1 else ""
    return f"[1x1, {width}; 3x3, {width}{groups}; 1x1, {spec.out_channels}] x{len(blocks)}"


def _millions(count: int) -> float:
    return round(count / 1e6, 1)


def _billions(count: int, digits: int = 1) -> float:
    return round(count / 1e9, digits)


def _all_disagreements(costs: Iterable[Complexity]) -> tuple[str, ...]:
    return tuple(line for cost in costs for line in cost.disagreements)
