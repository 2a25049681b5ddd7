"""The course around the package: exercises, notebooks, the site and the deck."""
