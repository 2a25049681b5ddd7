"""Whole networks and their weights, built from the core's blocks.

networks.py  ResNeXt-50/101/152 and the CIFAR ResNeXt-29 (paper Table 1), in any form
weights.py   load a checkpoint (torchvision's or ours, any form) into a network of any form
grouped.py   grouped convolution as a dense one with a block-diagonal mask, and back
fused.py     form (a)'s own modules run through form (c)'s grouped kernels
"""

from blocks.models.fused import fused_forward
from blocks.models.networks import ResNeXt, replace_head, resnext, resnext29
from blocks.models.weights import load_weights

__all__ = ["ResNeXt", "fused_forward", "load_weights", "replace_head", "resnext", "resnext29"]
