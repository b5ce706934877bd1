"""The Tempo Cloud REST v4 replica: its routes (api.py), its state and its corpus."""
