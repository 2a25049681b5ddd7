"""A model that runs gets a report: a dataflow no pass of the reader foresaw is named, never a traceback."""

from __future__ import annotations

import pytest

import blocks
from blocks.dataflow.recognise import reader

SIZE = (1, 3, 32, 32)


def test_a_block_the_reader_fails_on_is_reported_and_the_others_read(monkeypatch: pytest.MonkeyPatch) -> None:
    read_block = reader.read_block
    calls = []

    def failing_on_the_second(*args: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("an operator no pass foresaw")
        return read_block(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "read_block", failing_on_the_second)
    report = blocks.audit(blocks.resnext29(2, 4), SIZE)
    assert len(report.blocks) == 8  # the nine blocks but the one that failed
    (problem,) = report.problems
    assert "could not read its branch (KeyError" in problem.message and problem.where == "layer1.1"
