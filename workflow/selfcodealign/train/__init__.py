"""Instruction tuning: the base model learns from its own selected data (SFT on TRL).

Modules, one job each: ``prompt`` (the template, the label mask, the chat template), ``data``
(sft.jsonl to token rows), ``batching`` (effective batch arithmetic), ``model`` (loading, the
dropout override, precision), ``packing`` (padding-free support), ``metrics`` (tokens/s and
loss.csv), ``checkpoints`` (resume), ``export`` (the final model directory), ``launch``
(accelerate for several GPUs) and ``finetune``, which ties them together.
"""
