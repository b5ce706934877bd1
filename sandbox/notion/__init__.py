"""The Notion API replica: its routes (api.py), its state and its corpus."""
