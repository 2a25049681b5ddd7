"""Moved to :mod:`blocks.dataflow.trace`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.dataflow.trace")
