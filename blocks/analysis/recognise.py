"""Moved to :mod:`blocks.dataflow.recognise`."""

from blocks._moved import moved

moved(__name__, "blocks.dataflow.recognise")
