"""Moved to :mod:`blocks.measure.tables`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.measure.tables")
