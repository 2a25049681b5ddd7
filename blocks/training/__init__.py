"""Training a ResNeXt offline, and the proof that the forms learn the same thing.

data.py      the digits (shipped with scikit-learn) and CIFAR-10 from a local folder
loop.py      the training loop: the paper's SGD recipe, scaled down
lockstep.py  forms (a), (b), (c) trained side by side, step by step
distributed.py  train() on N processes under torchrun: DDP, one global batch, one set of BN statistics
"""

from blocks.training.data import data_loaders
from blocks.training.lockstep import train_in_lockstep
from blocks.training.loop import SGDRecipe, small_resnext, train, train_each_form

__all__ = ["SGDRecipe", "data_loaders", "small_resnext", "train", "train_each_form", "train_in_lockstep"]
