"""The Jira Cloud REST v3 replica: its routes (api.py), its state and its corpus."""
