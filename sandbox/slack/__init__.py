"""The Slack Web API replica: its routes (api.py), its state and its corpus."""
