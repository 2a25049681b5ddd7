"""Moved to :mod:`blocks.measure.proof`."""

from blocks._moved import moved

moved(__name__, "blocks.measure.proof")
