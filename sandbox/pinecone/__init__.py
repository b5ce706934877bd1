"""The Pinecone data-plane replica: its routes (api.py), its state and its corpus."""
