"""Tests of blocks.measure: complexity, census, the compiled calls, the tables."""
