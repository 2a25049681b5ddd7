"""Moved to :mod:`blocks.measure.census`."""

from blocks._moved import moved

moved(__name__, "blocks.measure.census")
