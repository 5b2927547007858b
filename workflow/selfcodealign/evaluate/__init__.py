"""Evaluation with EvalPlus: datasets pinned by content hash, scoring through EvalPlus's own
evaluator inside the sandbox's isolation."""
