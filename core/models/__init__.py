"""Models: GGUF metadata, the local registry, the starter models."""
