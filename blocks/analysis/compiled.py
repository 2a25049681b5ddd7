"""Moved to :mod:`blocks.measure.compiled`."""

from blocks._moved import moved

moved(__name__, "blocks.measure.compiled")
