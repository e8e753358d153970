"""A model's own settings, stored in its registry record (``ModelRecord.overrides``).

Load-time keys take effect at the next load (see ``Engine.load_config_for``);
sampling keys replace the generation settings for that model's answers, in the
desktop chat and in ``lectern ask --model`` alike.
"""

from __future__ import annotations

from core.models.registry import ModelRecord
from core.settings import GenerationSettings

LOAD_KEYS = ("n_ctx", "n_gpu_layers", "chat_template")
SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "dry_multiplier",
    "seed",
    "max_tokens",
)


def sampling_for(record: ModelRecord | None, defaults: GenerationSettings) -> GenerationSettings:
    """The generation settings with a model's sampling overrides applied."""
    if record is None:
        return defaults
    update = {k: v for k, v in record.overrides.items() if k in SAMPLING_KEYS}
    return defaults.model_copy(update=update) if update else defaults
