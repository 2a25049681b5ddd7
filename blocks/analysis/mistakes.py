"""Moved to :mod:`blocks.dataflow.mistakes`."""

from blocks._moved import moved

moved(__name__, "blocks.dataflow.mistakes")
