"""Datasets shipped with the package: a synthetic shapes generator for tests and the demo."""
