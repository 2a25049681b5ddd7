"""Tests of blocks.training: data, the training loop, lock-step training, distributed training."""
