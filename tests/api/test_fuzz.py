"""A fuzz test of the public API: every call returns a result that passes its proof, or refuses by name.

Random specs, shapes, dtypes, devices, forms and file contents for ``build``, ``transplant``,
``form_of``, ``audit``, ``complexity``, ``load_weights``, ``replace_head`` and ``data_loaders``.
Each call must either return something that passes its proof (the same function, the right
shape, a readable report) or raise ``ValueError``/``TypeError`` whose message names one of the
call's arguments. Never another exception, a hang, or a changed input.

The number of examples per function is ``BLOCKS_FUZZ_EXAMPLES`` (default 15 in ``make test``;
``make fuzz`` runs 300). Every example is bounded in time by ``hypothesis``' own deadline and,
around the call, by :func:`blocks.util.limits.time_limit`.
"""

from __future__ import annotations

import copy
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import blocks
from blocks.util.limits import time_limit
from blocks.util.numerics import NETWORK_FP64_RTOL, relative_error

pytestmark = pytest.mark.slow  # seconds per function, even at make test's budget: not the inner loop

EXAMPLES = int(os.environ.get("BLOCKS_FUZZ_EXAMPLES", "15"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # torch's first calls (kernels, fake tensors) take seconds; the time limit below bounds a call
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CALL_SECONDS = 60.0  # any one call here: small models, or a refusal that must come before the work

# Integers as a hostile user types them: small, zero, negative, huge, and not ints at all.
sizes = st.one_of(
    st.integers(1, 16),
    st.sampled_from([0, -1, 10**6, 2**40]),
    st.sampled_from([1.5, 4.0, True, None, "4", (4,)]),
)
forms = st.one_of(st.sampled_from("abc"), st.sampled_from(["d", "", "A", None, 1, ["a"]]))
dtypes = st.sampled_from([torch.float64, torch.float32, torch.float16, torch.bfloat16])
input_sizes = st.one_of(
    st.tuples(st.integers(1, 3), st.sampled_from([3, 4, 8]), st.integers(1, 40), st.integers(1, 40)),
    st.sampled_from([(1, 3, 10**6, 10**6), (0, 3, 8, 8), (1, 3, -8, 8), (1, 3), (2,), (), [1, 3, 8, 8], None, "x"]),
)


def refused_by_name(error: BaseException, names: tuple[str, ...]) -> bool:
    """True if ``error`` is a ValueError or TypeError whose message names one of ``names``."""
    return isinstance(error, (ValueError, TypeError)) and any(name in str(error) for name in names)


def snapshot(value: object) -> object:
    """What of an argument a call must not change: a module's tensors and modes, or the value itself."""
    if isinstance(value, nn.Module):
        tensors = {k: v.detach().clone() for k, v in value.state_dict().items() if not v.is_meta}
        return tensors, [m.training for m in value.modules()], [p.requires_grad for p in value.parameters()]
    return copy.deepcopy(value)


def unchanged(before: object, value: object) -> bool:
    after = snapshot(value)
    if isinstance(value, nn.Module):
        (t0, m0, g0), (t1, m1, g1) = before, after  # type: ignore[misc]
        return t0.keys() == t1.keys() and all(torch.equal(t0[k], t1[k]) for k in t0) and m0 == m1 and g0 == g1
    return bool(before == after)


def run(call: Callable[[], object], names: tuple[str, ...], *inputs: object) -> object | None:
    """The call's result, or None if it refused by name; fails on anything else, or if it changed an input."""
    before = [snapshot(value) for value in inputs]
    try:
        with time_limit(CALL_SECONDS):
            result = call()
    except (ValueError, TypeError) as error:
        assert refused_by_name(error, names), f"{type(error).__name__} names none of {names}: {error}"
        result = None
    for value, snap in zip(inputs, before):
        assert unchanged(snap, value), f"the call changed its input {type(value).__name__}"
    return result


@st.composite
def specs(draw: st.DrawFn) -> object:
    """A BlockSpec, mostly small and valid; or what BlockSpec refused (the refusal is part of the test)."""
    fields = [draw(sizes) for _ in range(4)] + [draw(st.one_of(st.sampled_from([1, 2]), sizes))]
    try:
        return blocks.BlockSpec(*fields)
    except (ValueError, TypeError) as error:
        assert refused_by_name(error, ("in_channels", "out_channels", "cardinality", "width", "stride")), str(error)
        return draw(st.sampled_from([None, 3, "spec", fields]))


def small_block(seed: int, form: str = "c") -> nn.Module:
    torch.manual_seed(seed)
    return blocks.build(blocks.BlockSpec(8, 16, 2, 2, stride=2), form).double()


def foreign_model() -> nn.Module:
    """A model this package did not build: a stem, one torchvision-style bottleneck, a head."""
    from torchvision.models.resnet import Bottleneck  # the [test] extra

    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        Bottleneck(8, 4, downsample=down, groups=2, base_width=16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    ).eval()


modules = st.one_of(
    st.builds(small_block, st.integers(0, 3), st.sampled_from("abc")),
    st.just(None).map(lambda _: foreign_model()),
    st.sampled_from([None, 3, "net", nn.Linear(3, 4), nn.Sequential()]),
)


@FUZZ
@given(spec=specs(), form=forms)
def test_build(spec: object, form: object) -> None:
    block = run(lambda: blocks.build(spec, form), ("spec", "form", "build"), spec)  # type: ignore[arg-type]
    if block is not None:
        assert blocks.form_of(block) == form
        x = torch.randn(2, spec.in_channels, 5, 5)  # type: ignore[union-attr]
        assert block.eval()(x).shape[1] == spec.out_channels  # type: ignore[operator, union-attr]


@FUZZ
@given(module=modules, form=forms, input_size=st.one_of(st.none(), input_sizes))
def test_transplant(module: object, form: object, input_size: object) -> None:
    names = ("module", "form", "input_size", "transplant")
    result = run(lambda: blocks.transplant(module, form, input_size=input_size), names, module)  # type: ignore[arg-type]
    if result is not None:
        assert isinstance(result, nn.Module) and isinstance(module, nn.Module)
        source = module.double().eval() if module is not None else module
        x = torch.randn(2, 3 if not isinstance(module, blocks.ResNeXtBlock) else 8, 8, 8, dtype=torch.float64)
        assert relative_error(result.double().eval()(x), source(x)) <= NETWORK_FP64_RTOL


@FUZZ
@given(module=modules, input_size=st.one_of(st.none(), input_sizes))
def test_form_of(module: object, input_size: object) -> None:
    form = run(lambda: blocks.form_of(module, input_size=input_size), ("module", "input_size", "form_of"), module)  # type: ignore[arg-type]
    assert form is None or form in ("a", "b", "c")


@FUZZ
@given(module=modules, input_size=input_sizes, dtype=dtypes)
def test_audit(module: object, input_size: object, dtype: torch.dtype) -> None:
    if isinstance(module, nn.Module):
        module = module.to(dtype)
    report = run(lambda: blocks.audit(module, input_size), ("model", "input_size", "audit", "recognise"), module)  # type: ignore[arg-type]
    if report is not None:
        assert str(report)  # a report a student can read, whatever it found


@FUZZ
@given(target=st.one_of(specs(), modules), input_size=input_sizes, meta=st.booleans())
def test_complexity(target: object, input_size: object, meta: bool) -> None:
    if meta and isinstance(target, nn.Module):
        target = copy.deepcopy(target).to("meta")
    names = ("spec_or_module", "input_size", "complexity")
    cost = run(lambda: blocks.complexity(target, input_size), names, target)  # type: ignore[arg-type]
    if cost is not None:
        assert cost.params >= 0 and cost.macs >= 0  # type: ignore[attr-defined]


file_contents = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(["resnext", "tensors", "pickle", "empty-dict", "wrong-shapes", "expanded"]),
)


def checkpoint(kind: bytes | str, net: nn.Module, path: Path) -> Path:
    """Write a checkpoint of ``kind`` for ``net`` to ``path``: raw bytes, or a torch.save of something."""
    if isinstance(kind, bytes):
        path.write_bytes(kind)
        return path
    state = {k: v.clone() for k, v in net.state_dict().items()}
    saved: object = {
        "resnext": state,
        "tensors": [torch.ones(3)],
        "pickle": {"note": "not weights"},
        "empty-dict": {},
        "wrong-shapes": {k: torch.zeros(2, 2) for k in state},
        "expanded": {k: torch.zeros(1).expand(2**20, 2**20) for k in state},
    }[kind]
    if kind == "pickle":
        path.write_bytes(pickle.dumps(saved))
    else:
        torch.save(saved, path)
    return path


@FUZZ
@given(contents=file_contents, form=st.sampled_from("abc"))
def test_load_weights(tmp_path: Path, contents: bytes | str, form: str) -> None:
    net = blocks.resnext29(2, 2, form=form)
    path = checkpoint(contents, blocks.resnext29(2, 2), tmp_path / "weights.pth")
    names = ("path", "load_weights", "net")
    before = snapshot(net)
    try:
        with time_limit(CALL_SECONDS):
            loaded = blocks.load_weights(net, path)
    except (ValueError, TypeError) as error:
        assert refused_by_name(error, names), f"{type(error).__name__} names none of {names}: {error}"
        assert unchanged(before, net), "a refused load changed the network"
        return
    assert loaded is net


@FUZZ
@given(
    net=st.one_of(st.builds(lambda: blocks.resnext29(2, 2)), st.sampled_from([None, nn.Linear(2, 2)])),
    num_classes=sizes,
    hidden=st.one_of(st.none(), sizes),
    dropout=st.one_of(st.floats(-1, 2), st.sampled_from([0.0, 0.5, True, "0.1", None])),
)
def test_replace_head(net: object, num_classes: object, hidden: object, dropout: object) -> None:
    names = ("net", "num_classes", "hidden", "dropout", "replace_head")
    new = run(lambda: blocks.replace_head(net, num_classes, hidden, dropout), names, net)  # type: ignore[arg-type]
    if new is not None:
        out = new.eval()(torch.randn(1, 3, 32, 32))  # type: ignore[operator]
        assert out.shape == (1, num_classes)


@FUZZ
@given(
    data=st.sampled_from(["digits", "cifar10", "mnist", None, 3]),
    batch_size=sizes,
    seed=st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([None, 1.5, "0"])),
    root=st.sampled_from([None, 3, "no-such-folder", Path("no-such-folder"), b"bytes"]),
    download=st.sampled_from([False, "yes", None, 0]),
)
def test_data_loaders(data: object, batch_size: object, seed: object, root: object, download: object) -> None:
    names = ("data", "batch_size", "seed", "root", "download")
    try:
        with time_limit(CALL_SECONDS):
            train, _ = blocks.data_loaders(data, batch_size=batch_size, seed=seed, root=root, download=download)  # type: ignore[arg-type]
    except FileNotFoundError as error:  # CIFAR-10 is not on this machine: documented, and it names the folder
        assert data == "cifar10" and "no-such-folder" in str(error)
        return
    except (ValueError, TypeError) as error:
        assert refused_by_name(error, names), f"{type(error).__name__} names none of {names}: {error}"
        return
    images, _ = next(iter(train))
    assert images.shape[0] <= batch_size and images.shape[1:] == (3, 8, 8)  # type: ignore[operator]
