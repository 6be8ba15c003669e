"""Datasets: synthetic training pairs and triples (``hiface.data.guided`` for GFRNet)."""
