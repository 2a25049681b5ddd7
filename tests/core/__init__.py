"""Tests of blocks.core: spec, forms, canonical, build, transplant (the teaching core)."""
