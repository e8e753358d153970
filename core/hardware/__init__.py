"""Hardware detection, the GPU offload planner and the load ladder.

``detect`` finds out what the machine has (``probes`` does the reading),
``model_shape`` reads a GGUF's sizes, ``planner`` decides layers, context and
KV cache, ``ladder`` lists fallbacks, ``corrections`` learns from real loads,
``describe`` puts it in plain words and ``measure`` times real generation.
"""
