"""Stage 2: Self-OSS-Instruct. Seeds -> concepts (S->C) -> instructions (C->I) -> responses
with tests (I->R), all written by the base model in completion mode from few-shot prompts."""
