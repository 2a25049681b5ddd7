"""Moved to :mod:`blocks.measure.complexity`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.measure.complexity")
