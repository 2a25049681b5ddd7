"""The dataflow tests' one rule for the inner loop: full-size networks are slow, their small siblings are not.

A ResNet-50-sized model (torchvision's and timm's 50- and 101-layer networks, wide ResNet-50, the
catalogue's ResNeXt-50s with their mistakes, our own ResNeXt-50 in every form) takes seconds to
trace, recognise and audit on 2 cores. The corpus holds small models written the same ways that run
the same code in a fraction of that, so ``make test-fast`` keeps those and leaves the big ones to
``make test``.
"""

from __future__ import annotations

import re

import pytest

# Parameter ids that name a full-size network: "torchvision-resnext50_32x4d", "timm-resnet101", ...
_FULL_SIZE = re.compile(r"(resnet|resnext|wide_resnet)(50|101|152)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/dataflow/" in item.nodeid and _FULL_SIZE.search(item.nodeid.split("[", 1)[-1]):
            item.add_marker(pytest.mark.slow)
