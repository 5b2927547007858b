"""Stage 1: gather seed functions (source -> extract -> filter -> type check -> dedup -> judge)."""
