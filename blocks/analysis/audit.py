"""Moved to :mod:`blocks.dataflow.audit`."""

from blocks._moved import moved

moved(__name__, "blocks.dataflow.audit")
