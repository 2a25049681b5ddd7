"""The failure classes found on public repositories' ResNeXts: no false alarm, no miss (``foreign/world.py``)."""

from __future__ import annotations

import pytest

import blocks

from tests.dataflow.foreign.world import TUTORIAL_PATHS, WORLD, torchvision_fixed_size_pool

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.mark.parametrize("name", sorted(WORLD))
def test_exactly_the_mistakes_the_model_has(name: str) -> None:
    make, size, mistakes, expected = WORLD[name]
    report = blocks.audit(make(), size, expected=expected() if expected is not None else None)
    assert {problem.mistake for problem in report.problems} == set(mistakes), str(report)


def test_a_pool_covering_the_whole_map_is_global_with_a_note() -> None:
    report = blocks.audit(torchvision_fixed_size_pool(), WORLD["imagenet-avgpool-covering-the-map"][1])
    pool = report.head[0]
    assert pool.startswith("global average pool (") and "only at this input size" in pool


def test_projections_where_the_identity_fits_keep_the_stages() -> None:
    make, size, _, expected = WORLD["cifar-projection-in-every-block"]
    report = blocks.audit(make(), size, expected=expected())
    assert [stage.blocks for stage in report.stages] == [3, 3, 3]
    (problem,) = report.problems
    assert "a projection where the identity fits" in problem.message


def test_a_wrong_stride_is_compared_with_the_expected_network() -> None:
    make, size, _, expected = WORLD["cifar-stage-3-stride-4"]
    report = blocks.audit(make(), size, expected=expected())
    assert report.total_stride == 8
    assert "strides 1-2-4 (total stride 8) where the expected network's have 1-2-2 (total stride 4)" in str(report)


def test_a_stem_bias_before_its_bn_names_the_stem() -> None:
    make, size, _, _ = WORLD["cifar-stem-bias-before-bn"]
    (problem,) = blocks.audit(make(), size).problems
    assert (problem.mistake, problem.where) == (8, "the stem")
    assert "64 parameters" in problem.message


def test_one_path_added_c_times_names_its_shared_weights_with_the_count() -> None:
    make, size, _, _ = WORLD["tutorial-one-path-added-c-times-in-place"]
    report = blocks.audit(make(), size)
    shared = [p for p in report.problems if p.mistake == 1 and "share one set of weights" in p.message]
    assert len(shared) == 1 and f"used {TUTORIAL_PATHS} times" in shared[0].message, str(report)
    assert shared[0].where == "path"
    assert any(p.mistake == 1 and "in place" in p.message for p in report.problems)  # and the add into the input
