"""Generate with the vLLM backend on a tiny model and print the results as JSON.

vLLM starts its engine in spawned processes, so this runs as a script under a main guard.
Usage: python vllm_generate.py MODEL_DIR
"""

import json
import sys

from selfcodealign.generation import SamplingSettings, load_backend

PROMPTS = ["def add(a, b):\n", "class Stack:\n", "import re\n"]

if __name__ == "__main__":
    model = {"name": sys.argv[1], "backend": "vllm", "dtype": "float32"}
    # On CPU this is the share of host memory vLLM reserves: keep it small on a shared machine.
    backend = load_backend({**model, "gpu_memory_utilization": 0.15, "max_model_len": 1024})
    sampled = SamplingSettings(n=3, temperature=0.7, max_tokens=8, seed=1)
    first = backend.generate(PROMPTS, sampled, seeds=[5, 6, 7])
    again = backend.generate(PROMPTS, sampled, seeds=[5, 6, 7])
    greedy = backend.generate(PROMPTS, SamplingSettings(n=1, temperature=0.0, max_tokens=24))
    text = greedy[0][0].text
    stop = text[10:14]
    stopped = backend.generate(
        PROMPTS[:1], SamplingSettings(n=1, temperature=0.0, max_tokens=24, stop=(stop,))
    )
    print(
        json.dumps(
            {
                "first": [[c.__dict__ for c in cs] for cs in first],
                "again": [[c.__dict__ for c in cs] for cs in again],
                "greedy": text,
                "stop": stop,
                "stopped": stopped[0][0].__dict__,
            }
        )
    )
