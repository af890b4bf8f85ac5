"""Experiment scripts: each writes one table in results/ and says how to regenerate it."""
