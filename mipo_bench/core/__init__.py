"""Shared ground every layer stands on: the registry, run directories and stages, model resolution, resources."""
