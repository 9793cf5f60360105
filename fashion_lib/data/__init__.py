"""Datasets: the real taxonomies, the real on-disk formats and the procedural proxy world."""
