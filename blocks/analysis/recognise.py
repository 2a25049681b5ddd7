"""Moved to :mod:`blocks.dataflow.recognise`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.dataflow.recognise")
