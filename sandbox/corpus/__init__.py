"""Deterministic corpora for the sandbox APIs: same seed and scale, byte-identical data."""
