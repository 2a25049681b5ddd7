"""Moved to :mod:`blocks.measure.complexity`."""

from blocks._moved import moved

moved(__name__, "blocks.measure.complexity")
