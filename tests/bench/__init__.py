"""Tests of blocks.bench: the speed benchmark and its CSV."""
