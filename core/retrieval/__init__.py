"""Retrieval over a document library: BM25, dense search, rank fusion, grounding, evaluation."""
