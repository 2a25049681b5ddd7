"""Moved to :mod:`blocks.measure.census`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.measure.census")
