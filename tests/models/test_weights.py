"""load_weights: any checkpoint into any form, and every bad file or tensor refused before anything is copied."""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import blocks
from blocks import BlockSpec, build, load_weights, resnext, small_resnext
from blocks.util.numerics import FP64_RTOL, NETWORK_FP32_RTOL, NETWORK_FP64_RTOL, randomise_batchnorm, relative_error

from tests.helpers.cases import NOT_MODULE_IDS, NOT_MODULES, small_net
from tests.helpers.reference import assert_agree, tensors_by_path

# --- load_weights: any checkpoint into any form --------------------------------------------------


@pytest.mark.slow
@pytest.mark.mutation_slow
@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_load_torchvision_weights_file_into_any_form(tmp_path, form: str) -> None:
    torch.manual_seed(0)
    reference = randomise_batchnorm(torchvision.models.resnext50_32x4d(), torch.Generator().manual_seed(1))
    path = tmp_path / "resnext50_32x4d.pth"
    torch.save(reference.state_dict(), path)
    net = load_weights(resnext(50, 32, 4, form=form), path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert relative_error(net(x), reference.eval()(x)) <= NETWORK_FP32_RTOL


def test_load_our_checkpoint_of_one_form_into_another(tmp_path, direction: tuple[str, str]) -> None:
    saved, loaded = direction
    source = small_net(saved).double()
    path = tmp_path / "net.pth"
    torch.save(source.state_dict(), path)
    net = load_weights(resnext(50, 2, 4, form=loaded, num_classes=10, stem="cifar").double(), path).eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    assert relative_error(net(x), source(x)) <= NETWORK_FP64_RTOL


def test_wrong_shaped_checkpoint_names_the_key_and_leaves_net_untouched(tmp_path) -> None:
    path = tmp_path / "other.pth"
    torch.save(small_net().state_dict(), path)  # 2x4d
    net = resnext(50, 2, 8, num_classes=10, stem="cifar")  # 2x8d
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(
        ValueError,
        match=r"'layer1.0.conv1.weight' has shape \(8, 64, 1, 1\) in the checkpoint,"
        r" but the network needs \(16, 64, 1, 1\)",
    ):
        load_weights(net, path)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_foreign_checkpoint_is_rejected(tmp_path) -> None:
    path = tmp_path / "linear.pth"
    torch.save(nn.Linear(3, 4).state_dict(), path)
    with pytest.raises(ValueError, match=r"the checkpoint lacks 'conv1.weight' \(shape \(64, 3, 3, 3\)\)"):
        load_weights(small_net(), path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="holds a list, not a state_dict"):
        load_weights(small_net(), path)


class NotWeights:
    """An object a pickle can hold but a state_dict should not: loading it could run code."""


def test_checkpoint_that_is_not_only_tensors_is_never_unpickled(tmp_path) -> None:
    path = tmp_path / "code.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": NotWeights()}, path)
    # The class by its full name: tests.models.test_..., whichever file this test lies in.
    message = f"is a pickled {re.escape(NotWeights.__module__)}.NotWeights, not a state_dict of tensors"
    with pytest.raises(ValueError, match=message):
        load_weights(small_net(), path)  # the weights-only load refused to run the pickle's code


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_wrapped_checkpoint_is_unwrapped(tmp_path, wrapper: str) -> None:
    source = small_net("a").double()
    path = tmp_path / "wrapped.pth"
    torch.save({wrapper: source.state_dict()}, path)
    net = load_weights(resnext(50, 2, 4, num_classes=10, stem="cifar").double(), path).eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    assert relative_error(net(x), source(x)) <= NETWORK_FP64_RTOL


def test_block_checkpoint_loads_into_a_block(tmp_path, direction: tuple[str, str]) -> None:
    source_form, target_form = direction
    spec = BlockSpec(8, 16, 2, 4, stride=2)
    source = randomise_batchnorm(build(spec, source_form), torch.Generator().manual_seed(0)).double().eval()
    path = tmp_path / "block.pth"
    torch.save(source.state_dict(), path)
    target = load_weights(build(spec, target_form).double(), path).eval()
    assert_agree(tensors_by_path(target), tensors_by_path(source), rtol=0)


def test_checkpoint_with_a_gap_in_its_paths_names_the_block(tmp_path) -> None:
    state = {key.replace("layer2.0.paths.1.", "layer2.0.paths.5."): t for key, t in small_net("a").state_dict().items()}
    path = tmp_path / "gap.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"^layer2.0: the paths holding 'conv1.weight' are \[0, 5\], not 0 … 1$"):
        load_weights(small_net("c"), path)


def test_block_checkpoint_with_a_gap_in_its_paths_names_the_block(tmp_path) -> None:
    spec = BlockSpec(8, 8, 2, 4)
    state = {key.replace("paths.1.", "paths.5."): t for key, t in build(spec, "a").state_dict().items()}
    path = tmp_path / "gap.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"^block: the paths holding 'conv1.weight' are \[0, 5\], not 0 … 1$"):
        load_weights(build(spec, "c"), path)


@pytest.mark.parametrize("extra", ["layer1.0.conv9.weight", "fc.scale"], ids=["in-a-block", "outside-the-blocks"])
def test_checkpoint_with_a_key_the_network_lacks_names_it(tmp_path, extra: str) -> None:
    state = small_net("a").state_dict()
    state[extra] = torch.zeros(1)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    message = f"^load_weights: the checkpoint has {re.escape(repr(extra))}, which the network does not$"
    with pytest.raises(ValueError, match=message):
        load_weights(small_net("b"), path)


# Bad input, nothing lost (issue 19's hostile-user list, one row per test): a clear error naming the
# argument and the value, never a raw internal, and where the call would change something, nothing changed.

# --- load_weights: file errors -----------------------------------------------------------------


def _write_checkpoint(path: Path) -> None:
    torch.save(small_resnext().state_dict(), path)


def _truncated(path: Path) -> None:
    _write_checkpoint(path)
    path.write_bytes(path.read_bytes()[:1000])


def _foreign_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a checkpoint")


# (what the file is, how to make it, what the message says after the path)
BAD_FILES: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing": (lambda path: None, "is not there: no such file"),
    "folder": (lambda path: path.mkdir(), "is a folder, not a checkpoint file"),
    "empty": (lambda path: path.write_bytes(b""), "is an empty file"),
    "truncated": (_truncated, "is a zip archive that is not a whole torch.save checkpoint"),
    "random-bytes": (lambda path: path.write_bytes(bytes(range(7, 256))), "is binary data"),
    "text": (lambda path: path.write_text("conv1.weight = 0.5\n"), "is a text file, not a torch.save checkpoint"),
    "foreign-zip": (_foreign_zip, "is a zip archive that is not a whole torch.save checkpoint"),
    "pickled-module": (lambda path: torch.save(nn.Linear(2, 2), path), "is a pickled torch.nn.modules.linear.Linear"),
    "tensor": (lambda path: torch.save(torch.ones(3), path), "holds a Tensor, not a state_dict"),
    "list": (lambda path: torch.save([1, 2], path), "holds a list, not a state_dict"),
    "other-wrapper": (
        lambda path: torch.save({"epoch": 3, "net": small_resnext().state_dict()}, path),
        r"holds no state_dict of tensors, nor one under 'state_dict' or 'model' or 'model_state_dict';"
        r" its top-level keys are \['epoch', 'net'\]",
    ),
}


@pytest.mark.parametrize(("make", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_load_weights_bad_file_is_one_sentence_naming_the_path(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "weights.pth"
    make(path)
    with pytest.raises(ValueError, match=f"^load_weights: '{path}' {message}"):
        load_weights(small_resnext(), path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_load_weights_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    with pytest.raises(ValueError, match="is a FIFO, not a checkpoint file"):
        load_weights(small_resnext(), path)


@pytest.mark.parametrize("path", [None, 3, b"weights.pth"], ids=["None", "int", "bytes"])
def test_load_weights_path_of_the_wrong_type(path: object) -> None:
    with pytest.raises(TypeError, match=f"path must be a str or os.PathLike, got {type(path).__name__}"):
        load_weights(small_resnext(), path)  # type: ignore[arg-type]


@pytest.mark.parametrize("net", NOT_MODULES, ids=NOT_MODULE_IDS)
def test_load_weights_net_that_is_not_a_module(tmp_path: Path, net: object) -> None:
    _write_checkpoint(tmp_path / "weights.pth")
    with pytest.raises(TypeError, match=f"net must be a torch.nn.Module, got {type(net).__name__}"):
        load_weights(net, tmp_path / "weights.pth")  # type: ignore[arg-type]


# --- load_weights: checkpoints as people save them ----------------------------------------------

WRAPPED: dict[str, Callable[[dict[str, torch.Tensor]], object]] = {
    "state_dict+epoch": lambda state: {"state_dict": state, "epoch": 3, "best_acc": 0.9},
    "model+optimizer": lambda state: {"model": state, "optimizer": {"state": {}, "param_groups": []}},
    "model_state_dict+epoch": lambda state: {"epoch": 7, "model_state_dict": state, "loss": 0.1},
    "module.": lambda state: {f"module.{k}": v for k, v in state.items()},
    "_orig_mod.": lambda state: {f"_orig_mod.{k}": v for k, v in state.items()},
    "_orig_mod.module.": lambda state: {f"_orig_mod.module.{k}": v for k, v in state.items()},
    "module.-under-state_dict": lambda state: {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 1},
}


@pytest.mark.parametrize("form", ["a", "c"])
@pytest.mark.parametrize("wrap", WRAPPED.values(), ids=WRAPPED.keys())
def test_load_weights_unwraps_training_checkpoints(
    tmp_path: Path, wrap: Callable[[dict[str, torch.Tensor]], object], form: str
) -> None:
    torch.manual_seed(0)
    source = small_resnext().eval()
    torch.save(wrap(source.state_dict()), tmp_path / "checkpoint.pth")
    net = load_weights(small_resnext(form), tmp_path / "checkpoint.pth")
    state = blocks.transplant(net, "c").state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())


# --- load_weights: nothing loaded unless everything fits ----------------------------------------

BAD_TENSORS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "sparse": (lambda t: t.to_sparse(), "is a torch.sparse_coo tensor in the checkpoint; only dense ones load"),
    "complex": (lambda t: t.to(torch.complex64), "is torch.complex64 in the checkpoint, but the network holds"),
    "meta": (lambda t: t.to("meta"), "is on the meta device in the checkpoint: it holds no values"),
    "nan": (lambda t: t.clone().fill_(float("nan")), "holds NaN or infinite values in the checkpoint"),
    "inf": (lambda t: t.clone().fill_(float("inf")), "holds NaN or infinite values in the checkpoint"),
    "int": (lambda t: t.long(), "is torch.int64 in the checkpoint, but the network holds torch.float32"),
}
# A key outside any block, in the first block, and the very last one: the load must not copy what comes before.
BAD_KEYS = ["conv1.weight", "layer1.0.conv2.weight", "fc.bias"]


# torch.load warns that it scans a sparse tensor's indices: expected, and harmless here.
@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
@pytest.mark.parametrize("form", ["a", "c"])
@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize(("spoil", "message"), BAD_TENSORS.values(), ids=BAD_TENSORS.keys())
def test_load_weights_checks_every_tensor_before_the_first_copy(
    tmp_path: Path, spoil: Callable[[torch.Tensor], torch.Tensor], message: str, key: str, form: str
) -> None:
    state = small_resnext().state_dict()
    state[key] = spoil(state[key])
    torch.save(state, tmp_path / "checkpoint.pth")
    net = small_resnext(form)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=f"'{key}' {message}"):
        load_weights(net, tmp_path / "checkpoint.pth")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


# --- load_weights: whole messages ----------------------------------------------------------------
# The rows above match a message by its start; these hold whole ones, where one word could go wrong.


class WithMask(nn.Module):
    """A module with a boolean buffer: what a load must not fill with integers."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(3, dtype=torch.bool))


LONG_TEXT = "conv1.weight = 0.5, conv1.bias = 0.25, fc.weight = 1.0\n" * 3
WHOLE_FILE_MESSAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "long-text": (
        lambda path: path.write_text(LONG_TEXT),
        "is a text file, not a torch.save checkpoint (it begins 'conv1.weight = 0.5, ')",
    ),
    "short-text": (
        lambda path: path.write_text("w = 0.5"),
        "is a text file, not a torch.save checkpoint (it begins 'w = 0.5')",
    ),
    "text-then-binary": (  # judged by its first 64 bytes
        lambda path: path.write_bytes(LONG_TEXT.encode() + bytes(range(32))),
        "is a text file, not a torch.save checkpoint (it begins 'conv1.weight = 0.5, ')",
    ),
    "text-with-bytes-not-utf8": (  # printable once decoded, but only by replacing two bytes: not text
        lambda path: path.write_bytes(b"conv1.weight \xff\xfe = 0.5\n"),
        "is binary data, not a torch.save checkpoint (truncated, corrupted, or another format)",
    ),
    "pickled-module": (
        lambda path: torch.save(nn.Linear(2, 2), path),
        "is a pickled torch.nn.modules.linear.Linear, not a state_dict of tensors; a weights-only load does not"
        " run code to rebuild it (save model.state_dict() instead)",
    ),
    "tensor": (
        lambda path: torch.save(torch.ones(3), path),
        "holds a Tensor, not a state_dict (a dict of tensors keyed by name)",
    ),
    "empty-dict": (
        lambda path: torch.save({}, path),
        "holds no state_dict of tensors, nor one under 'state_dict' or 'model' or 'model_state_dict';"
        " its top-level keys are []",
    ),
    "ten-keys": (
        lambda path: torch.save({f"k{i}": i for i in range(10)}, path),
        "holds no state_dict of tensors, nor one under 'state_dict' or 'model' or 'model_state_dict';"
        f" its top-level keys are {[f'k{i}' for i in range(10)]}",
    ),
    "twelve-keys": (
        lambda path: torch.save({f"k{i}": i for i in range(12)}, path),
        "holds no state_dict of tensors, nor one under 'state_dict' or 'model' or 'model_state_dict';"
        f" its top-level keys are {[f'k{i}' for i in range(10)]} and 2 more",
    ),
}


@pytest.mark.parametrize(("make", "message"), WHOLE_FILE_MESSAGES.values(), ids=WHOLE_FILE_MESSAGES.keys())
def test_load_weights_file_message_whole(tmp_path: Path, make: Callable[[Path], object], message: str) -> None:
    path = tmp_path / "weights.pth"
    make(path)
    with pytest.raises(ValueError, match=f"^{re.escape(f'load_weights: {str(path)!r} {message}')}$"):
        load_weights(small_resnext(), path)


def _complex_net() -> nn.Module:
    with warnings.catch_warnings():  # "Complex modules are a new feature": it holds tensors, which is all a load needs
        warnings.simplefilter("ignore", UserWarning)
        return small_resnext().to(torch.complex64)


def _spoiled(key: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    state = small_resnext().state_dict()
    state[key] = state[key].to(dtype)
    return state


# (network, checkpoint, the message: a load converts within a kind of values, never across)
ACROSS_KINDS: dict[str, tuple[Callable[[], nn.Module], Callable[[], dict[str, torch.Tensor]], str]] = {
    "int-into-float": (
        small_resnext,
        lambda: _spoiled("conv1.weight", torch.int64),
        "'conv1.weight' is torch.int64 in the checkpoint, but the network holds torch.float32 there"
        " (floating-point values)",
    ),
    "bool-into-int": (
        small_resnext,
        lambda: _spoiled("bn1.num_batches_tracked", torch.bool),
        "'bn1.num_batches_tracked' is torch.bool in the checkpoint, but the network holds torch.int64 there"
        " (integer values)",
    ),
    "int-into-bool": (
        WithMask,
        lambda: {"mask": torch.ones(3, dtype=torch.int64)},
        "'mask' is torch.int64 in the checkpoint, but the network holds torch.bool there (boolean values)",
    ),
    "float-into-complex": (
        _complex_net,
        lambda: small_resnext().state_dict(),
        "'conv1.weight' is torch.float32 in the checkpoint, but the network holds torch.complex64 there"
        " (complex values)",
    ),
}


@pytest.mark.parametrize(("make_net", "make_state", "message"), ACROSS_KINDS.values(), ids=ACROSS_KINDS.keys())
def test_load_weights_converts_within_a_kind_of_values_never_across(
    tmp_path: Path,
    make_net: Callable[[], nn.Module],
    make_state: Callable[[], dict[str, torch.Tensor]],
    message: str,
) -> None:
    torch.save(make_state(), tmp_path / "checkpoint.pth")
    with pytest.raises(ValueError, match=f"^{re.escape(f'load_weights: {message}')}$"):
        load_weights(make_net(), tmp_path / "checkpoint.pth")


WITHIN_KINDS: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], dict[str, torch.Tensor]]]] = {
    "float64-into-float32": (
        small_resnext,
        lambda source: {k: v.double() if v.is_floating_point() else v for k, v in source.state_dict().items()},
    ),
    "int32-counters-into-int64": (
        small_resnext,
        lambda source: {k: v if v.is_floating_point() else v.int() for k, v in source.state_dict().items()},
    ),
    "complex128-into-complex64": (
        _complex_net,
        lambda source: {k: v.to(torch.complex128) if v.is_complex() else v for k, v in source.state_dict().items()},
    ),
    "bool-into-bool": (WithMask, lambda source: {"mask": torch.tensor([True, False, True])}),
    "one-tensor": (lambda: nn.Linear(2, 2, bias=False), lambda source: {"weight": torch.arange(4.0).reshape(2, 2)}),
}


@pytest.mark.parametrize(("make_net", "make_state"), WITHIN_KINDS.values(), ids=WITHIN_KINDS.keys())
def test_load_weights_converts_within_a_kind_of_values(
    tmp_path: Path, make_net: Callable[[], nn.Module], make_state: Callable[[nn.Module], dict[str, torch.Tensor]]
) -> None:
    torch.manual_seed(0)
    state = make_state(make_net())
    torch.save(state, tmp_path / "checkpoint.pth")
    loaded = load_weights(make_net(), tmp_path / "checkpoint.pth").state_dict()
    assert loaded.keys() == state.keys()
    for key, tensor in state.items():
        assert loaded[key].dtype == make_net().state_dict()[key].dtype, key
        assert torch.equal(loaded[key], tensor.to(loaded[key].dtype)), key


def test_load_weights_names_a_key_outside_the_blocks_that_is_missing(tmp_path: Path) -> None:
    state = small_resnext().state_dict()
    del state["fc.bias"]
    torch.save(state, tmp_path / "checkpoint.pth")
    with pytest.raises(ValueError, match=r"^load_weights: the checkpoint lacks 'fc.bias' \(shape \(10,\)\)$"):
        load_weights(small_resnext(), tmp_path / "checkpoint.pth")


def test_load_weights_names_the_block_whose_paths_do_not_fit_together(tmp_path: Path) -> None:
    state = small_resnext("a").state_dict()
    state["layer2.0.paths.1.conv2.weight"] = torch.zeros(8, 9, 3, 3)  # path 0's is (8, 8, 3, 3)
    torch.save(state, tmp_path / "checkpoint.pth")
    message = "^load_weights: the checkpoint's paths of block 'layer2.0' do not fit together$"
    with pytest.raises(ValueError, match=message):
        load_weights(small_resnext("a"), tmp_path / "checkpoint.pth")


def test_load_weights_names_a_block_changed_after_it_was_built(tmp_path: Path) -> None:
    # Two paths' BNs swapped for others of 5 and 3 channels: 16 in all, as built, but cut 4 + 4 by the spec.
    net = small_resnext("a")
    net.layer1[0].paths[0].bn1 = nn.BatchNorm2d(5)
    net.layer1[0].paths[1].bn1 = nn.BatchNorm2d(3)
    torch.save(net.state_dict(), tmp_path / "checkpoint.pth")
    message = (
        r"^load_weights: 'layer1.0.paths.0.bn1.weight' comes out of the checkpoint as \(4,\),"
        r" but the network holds \(5,\)$"
    )
    with pytest.raises(ValueError, match=message):
        load_weights(net, tmp_path / "checkpoint.pth")


@pytest.mark.parametrize("form", ["a", "b", "c"])
def test_load_weights_fills_a_network_on_the_meta_device(tmp_path: Path, form: str) -> None:
    torch.manual_seed(0)
    source = small_resnext().double().eval()
    torch.save(source.state_dict(), tmp_path / "checkpoint.pth")
    with torch.device("meta"):
        net = small_resnext(form).double()
    load_weights(net, tmp_path / "checkpoint.pth").eval()
    assert all(t.device.type == "cpu" and t.dtype in (torch.float64, torch.int64) for t in net.state_dict().values())
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(net(x), source(x), rtol=FP64_RTOL, atol=0)


def test_an_expanded_tensor_of_the_wrong_shape_is_refused_before_it_is_read(tmp_path: Path) -> None:
    net = blocks.resnext29(2, 2)
    state = net.state_dict()
    state["fc.weight"] = torch.zeros(1).expand(2**20, 2**20)  # 4 TB if materialised; one value on disk
    path = tmp_path / "expanded.pth"
    torch.save(state, path)
    with pytest.raises(
        ValueError, match=r"^load_weights: 'fc.weight' has shape \(1048576, 1048576\) in the checkpoint"
    ):
        load_weights(net, path)
