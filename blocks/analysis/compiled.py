"""Moved to :mod:`blocks.measure.compiled`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.measure.compiled")
