"""The model picker: installed models, the catalog, Hub search, downloads and per-model settings."""
