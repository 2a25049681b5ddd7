"""Tests of blocks.models: whole networks, load_weights, the grouped-conv masks, the fused forward."""
