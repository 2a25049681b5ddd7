"""Moved to :mod:`blocks.dataflow.audit`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.dataflow.audit")
