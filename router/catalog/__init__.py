"""Bundled model metadata (data files)."""
