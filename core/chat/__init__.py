"""Chat and generation: templates, context budget, the llama.cpp worker, the chat service."""
