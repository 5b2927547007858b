"""Padding-free packing: the batch as one row, sequences told apart by restarting positions.

Without padding no compute goes to pad tokens; without cross-sample attention each sample
sees only itself. That takes an attention path that reads the boundaries: FlashAttention's
variable-length kernels, or transformers' masks for sdpa/eager/flex, which turn restarting
``position_ids`` into a block-diagonal mask (models whose code builds masks with
``masking_utils.create_causal_mask``). Those masks apply only without a KV cache, which
SFTTrainer turns off for every training forward. Anything else would attend across samples,
so it falls back to padded batches and says why.
"""

from __future__ import annotations

import sys

_FLASH = ("flash_attention_2", "flash_attention_3")
_MASKED = ("sdpa", "eager", "flex_attention")


def padding_free_support(model) -> tuple[bool, str]:
    """Whether padding-free batches keep samples apart in this model, and why (or why not)."""
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl in _FLASH or "flash" in impl:
        return True, f"{impl} reads the sequence boundaries (varlen kernels)"
    if impl not in _MASKED:
        return False, f"attention {impl!r} is not known to keep packed sequences apart"
    try:
        from transformers.masking_utils import find_packed_sequence_indices  # noqa: F401
    except ImportError:
        return False, f"this transformers builds no packed-sequence masks for {impl}"
    module = sys.modules.get(type(model).__module__)
    if module is None or not hasattr(module, "create_causal_mask"):
        return False, f"{type(model).__name__} does not build its masks with create_causal_mask"
    # Correct, but one mask spans the whole packed row: attention grows with its square.
    return True, (
        f"{impl} with a block-diagonal mask from the restarting position ids (attention spans"
        " the whole packed row; flash_attention_2 is what makes packing fast)"
    )
