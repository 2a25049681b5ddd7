"""Moved to :mod:`blocks.measure.tables`."""

from blocks._moved import moved

moved(__name__, "blocks.measure.tables")
