"""Moved to :mod:`blocks.measure.proof`."""

from blocks.util.deprecation import moved

moved(__name__, "blocks.measure.proof")
