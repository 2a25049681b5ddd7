"""Moved to :mod:`blocks.dataflow.mistakes`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.dataflow.mistakes")
