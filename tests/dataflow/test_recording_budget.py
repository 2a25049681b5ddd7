"""The recorded pass keeps every value it makes: the recorder stops it at the memory limit, and only an input
so large that one layer could pass the limit is estimated first by a pass under fake tensors."""

from __future__ import annotations

import pytest
import torch

import blocks
from blocks.dataflow.recognise import reader

SMALL = (1, 3, 32, 32)
TINY_LIMIT = 2**20  # 1 MiB: a ResNeXt-29's recorded pass at 32x32 holds more (its first stage alone ~4 MiB)


def test_a_pass_over_the_limit_is_stopped_with_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    net = blocks.resnext29(2, 4)
    monkeypatch.setattr(reader, "memory_limit", lambda: TINY_LIMIT)
    monkeypatch.setattr(reader, "guard_forward", lambda *args, **kwargs: None)  # the fake pass would let it by
    with pytest.raises(ValueError, match=r"recognise: one forward pass on an input of input_size=\(1, 3, 32, 32\)"
                       r" in torch.float32 would need more than the limit .* after [\d,]+ operators"):  # fmt: skip
        blocks.audit(net, SMALL)


def test_a_small_input_is_recorded_without_the_fake_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fake pass ran for an input far under the limit")

    monkeypatch.setattr(reader, "guard_forward", fake_pass)
    assert blocks.audit(blocks.resnext29(2, 4), SMALL).problems == []


def test_a_huge_input_is_estimated_before_anything_runs() -> None:
    with pytest.raises(ValueError, match=r"would need about [\d,.]+ GiB"):
        blocks.audit(torch.nn.Conv2d(3, 8, 3), (64, 3, 20_000, 20_000))
