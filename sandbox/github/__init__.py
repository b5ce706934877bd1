"""The GitHub REST replica: its routes (api.py), its state and its corpus."""
