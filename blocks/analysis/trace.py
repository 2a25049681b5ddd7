"""Moved to :mod:`blocks.dataflow.trace`."""

from blocks._moved import moved

moved(__name__, "blocks.dataflow.trace")
