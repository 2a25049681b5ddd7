"""Tests of blocks.dataflow: recognise, audit, the mistakes catalogue, adopting foreign models (corpus in foreign/)."""
