"""The OpenAI embeddings replica: its routes (api.py), its state and its corpus."""
