"""The Fireflies GraphQL replica: its routes (api.py), its state and its corpus."""
