"""The document library: PDF extraction, chunking, embedding and the crash-safe store."""
