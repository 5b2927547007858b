"""The transformers and OpenAI-compatible backends on a real tiny model (vLLM: tests_vllm/)."""

from __future__ import annotations

import pytest
from openai_server import CompletionServer
from selfcodealign.generation import SamplingSettings, load_backend
from selfcodealign.generation.base import truncate_at_stop

PROMPTS = ["def add(a, b):\n", "class Stack:\n", "import re\n"]


@pytest.fixture(scope="module")
def hf_backend(tiny_model):
    return load_backend({"name": str(tiny_model), "backend": "transformers", "dtype": "float32"})


def test_truncate_at_stop():
    assert truncate_at_stop("abc\n## Example 2", ("\n## Example",)) == ("abc", True)
    assert truncate_at_stop("abc", ("x", "y")) == ("abc", False)
    assert truncate_at_stop("a-b_c", ("_", "-")) == ("a", True)


def test_transformers_n_samples_length_and_seeds(hf_backend):
    sampling = SamplingSettings(n=3, temperature=0.7, max_tokens=6, seed=1)
    out = hf_backend.generate(PROMPTS, sampling, seeds=[5, 6, 7])
    assert [len(c) for c in out] == [3, 3, 3]
    assert all(c.finish_reason == "length" and c.tokens == 6 for cs in out for c in cs)
    # the same seeds give the same samples; other seeds give others
    assert out == hf_backend.generate(PROMPTS, sampling, seeds=[5, 6, 7])
    assert out != hf_backend.generate(PROMPTS, sampling, seeds=[8, 6, 7])


def test_truncate_after_a_pattern_and_at_a_stop_string_whichever_ends_first():
    tests_end = (r"^###[ \t]*Tests[ \t]*\n\s*```[^\n]*\n[\s\S]*?```",)
    answer = "x\n### Tests\n```python\nassert f()\n```"
    assert truncate_at_stop(answer + "\nmore", (), tests_end) == (answer, True)
    assert truncate_at_stop("### Tests\n```python\nassert f()\n", (), tests_end)[1] is False
    assert truncate_at_stop(answer + "\n## Example", ("x\n",), tests_end) == ("", True)


def test_transformers_samples_each_row_from_its_own_seed(hf_backend):
    """A row's samples do not depend on the batch around it: its size, order or neighbours."""
    sampling = SamplingSettings(n=2, temperature=0.9, max_tokens=8)
    together = hf_backend.generate(PROMPTS, sampling, seeds=[5, 6, 7])
    alone = [
        hf_backend.generate([p], sampling, seeds=[s])[0]
        for p, s in zip(PROMPTS, [5, 6, 7], strict=True)
    ]
    reordered = hf_backend.generate(PROMPTS[::-1], sampling, seeds=[7, 6, 5])[::-1]
    assert together == alone == reordered
    # the n samples of one row differ from each other (each has its own generator)
    assert any(a.text != b.text for a, b in together)


def test_transformers_top_p_keeps_the_smallest_set_reaching_it(hf_backend):
    greedy = SamplingSettings(n=1, temperature=0.0, max_tokens=12)
    # a top_p below every token's probability keeps only the most likely one: greedy
    narrow = SamplingSettings(n=2, temperature=1.0, top_p=1e-6, max_tokens=12)
    wide = SamplingSettings(n=2, temperature=1.0, top_p=1.0, max_tokens=12)
    expected = hf_backend.generate(PROMPTS, greedy)
    assert [[c.text for c in cs] for cs in hf_backend.generate(PROMPTS, narrow, [1, 2, 3])] == [
        [c.text] * 2 for [c] in expected
    ]
    assert hf_backend.generate(PROMPTS, wide, [1, 2, 3]) != [cs * 2 for cs in expected]


def test_transformers_stops_right_after_a_stop_after_pattern(hf_backend):
    unbounded = SamplingSettings(n=1, temperature=0.0, max_tokens=24)
    [[free]] = hf_backend.generate(PROMPTS[:1], unbounded)
    assert len(free.text) > 12 and free.tokens == 24
    pattern = SamplingSettings(n=1, temperature=0.0, max_tokens=24, stop_after=(r"[\s\S]{12}",))
    [[cut]] = hf_backend.generate(PROMPTS[:1], pattern)
    # generation ended as soon as the pattern matched: fewer tokens, the text cut after it
    assert cut.finish_reason == "stop" and cut.text == free.text[:12]
    assert cut.tokens < free.tokens


def test_transformers_stops_at_a_stop_string(hf_backend):
    greedy = SamplingSettings(n=1, temperature=0.0, max_tokens=24)
    [[free]] = hf_backend.generate(PROMPTS[:1], greedy)
    stop = free.text[10:14]  # a piece of what greedy decoding writes anyway
    assert stop
    [[stopped]] = hf_backend.generate(
        PROMPTS[:1], SamplingSettings(n=1, temperature=0.0, max_tokens=24, stop=(stop,))
    )
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(stop)]


def test_openai_backend_against_a_loopback_server(hf_backend, tiny_model, monkeypatch):
    monkeypatch.setenv("SCA_TEST_KEY", "sk-test-secret")
    with CompletionServer(hf_backend, "tiny", fail_first=2) as server:
        backend = load_backend(
            {"name": "tiny", "backend": "openai"},
            openai={
                "base_url": server.base_url,
                "api_key_env": "SCA_TEST_KEY",
                "concurrency": 3,
                "max_retries": 4,
                "timeout_s": 60,
            },
        )
        greedy = SamplingSettings(n=2, temperature=0.0, max_tokens=8, stop=("\n\n",))
        out = backend.generate(PROMPTS, greedy, seeds=[1, 2, 3])
        backend.close()
    # two 503s were retried; every prompt got its n samples, in prompt order
    assert len(server.requests) == len(PROMPTS) + 2
    assert out == hf_backend.generate(PROMPTS, greedy, seeds=[1, 2, 3])
    body = server.requests[-1]
    assert {body["n"], body["max_tokens"], body["temperature"]} == {2, 8, 0.0}
    assert body["stop"] == ["\n\n"] and body["seed"] in (1, 2, 3)
    # the key travels in the Authorization header and nowhere else
    assert all(h.get("authorization") == "Bearer sk-test-secret" for h in server.headers)
    assert not any("sk-test-secret" in str(r) for r in server.requests)


def test_openai_backend_gives_up_after_its_retries(hf_backend):
    with CompletionServer(hf_backend, "tiny", fail_first=100) as server:
        backend = load_backend(
            {"name": "tiny", "backend": "openai"},
            openai={"base_url": server.base_url, "max_retries": 1, "timeout_s": 30},
        )
        with pytest.raises(Exception, match="503|busy"):
            backend.generate(PROMPTS[:1], SamplingSettings(max_tokens=4))
    assert len(server.requests) == 2


def test_openai_backend_needs_a_url(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        load_backend({"name": "m", "backend": "openai"}, openai={})


def test_the_reserved_cache_decodes_exactly_as_transformers_own(hf_backend, monkeypatch):
    from selfcodealign.generation import hf_cache, hf_decode
    from transformers import DynamicCache

    # rows end at different steps (at their first "e"), so finished rows leave mid-decoding
    sampling = SamplingSettings(n=2, temperature=0.8, max_tokens=20, stop=("e",))
    reserved = hf_backend.generate(PROMPTS, sampling, [1, 2, 3])
    assert len({c.tokens for cs in reserved for c in cs}) > 2
    # a reserve far too small makes the buffers grow (and copy) as decoding goes on
    monkeypatch.setattr(
        hf_decode, "make_cache", lambda config, _: hf_cache.reserved_cache(config, 2)
    )
    grown = hf_backend.generate(PROMPTS, sampling, [1, 2, 3])
    monkeypatch.setattr(hf_decode, "make_cache", lambda config, _: DynamicCache(config=config))
    assert reserved == grown == hf_backend.generate(PROMPTS, sampling, [1, 2, 3])
