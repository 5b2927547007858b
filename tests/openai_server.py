"""A small OpenAI-compatible completions server on loopback, backed by a real local model.

It serves ``POST /v1/completions`` with the transformers backend, fails the first
``fail_first`` requests with HTTP 503 (to exercise client retries), and records the headers
it received (to check that the API key travels only in the Authorization header).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selfcodealign.generation import SamplingSettings


class CompletionServer:
    def __init__(self, backend, model_name: str, fail_first: int = 0):
        self.backend = backend
        self.model_name = model_name
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _complete(self, body: dict) -> dict:
        stop = body.get("stop") or ()
        sampling = SamplingSettings(
            n=body.get("n", 1),
            temperature=body.get("temperature", 1.0),
            top_p=body.get("top_p", 1.0),
            max_tokens=body.get("max_tokens", 16),
            stop=tuple([stop] if isinstance(stop, str) else stop),
            seed=body.get("seed") or 0,
        )
        with self._lock:  # one generation at a time on the shared model
            [completions] = self.backend.generate([body["prompt"]], sampling)
        return {
            "id": "cmpl-test",
            "object": "text_completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": i, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
                for i, c in enumerate(completions)
            ],
            "usage": {
                "prompt_tokens": 0,
                "completion_tokens": sum(c.tokens for c in completions),
                "total_tokens": sum(c.tokens for c in completions),
            },
        }

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    failing = server.fail_first > 0
                    server.fail_first -= failing
                if failing:
                    self._send(503, {"error": {"message": "busy, retry"}})
                elif self.path != "/v1/completions" or body.get("model") != server.model_name:
                    self._send(404, {"error": {"message": "no such model or route"}})
                else:
                    self._send(200, server._complete(body))

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
