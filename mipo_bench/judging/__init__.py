"""Judges: score parsing, rubric/personalization prompts, batched judging, win-rates."""
