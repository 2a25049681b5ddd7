"""Tests of blocks.util: argument checks, numerics, text."""
