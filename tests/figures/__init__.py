"""Tests of blocks.figures."""
