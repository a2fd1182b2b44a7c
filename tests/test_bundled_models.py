"""Bundled models: chunk assembly with verification, and which one the embedded default uses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bytebuddy_ls.config import discovery
from bytebuddy_ls.config.schema import ModelConfig
from bytebuddy_ls.inference import bundled


def fake_model(
    tmp_path: Path, parts: list[bytes], digest_of: bytes
) -> tuple[bundled.ChunkedModel, list[Path]]:
    paths = []
    for number, data in enumerate(parts, 1):
        path = tmp_path / f"part{number:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    model = bundled.ChunkedModel(
        name="fake",
        description="fake model",
        filename="fake.gguf",
        packages=("fake_part1", "fake_part2", "fake_part3"),
        size=len(digest_of),
        sha256=hashlib.sha256(digest_of).hexdigest(),
    )
    return model, paths


def test_chunks_are_joined_in_order_and_verified(tmp_path: Path) -> None:
    parts = [b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 10]
    model, paths = fake_model(tmp_path, parts, b"".join(parts))
    target = bundled.assemble(model, tmp_path / "models", paths)
    assert target.read_bytes() == b"".join(parts)
    assert bundled.assembled_file(model, tmp_path / "models") == target
    # Once there, nothing is read again.
    assert bundled.assemble(model, tmp_path / "models", [tmp_path / "missing.bin"]) == target


def test_a_wrong_chunk_never_becomes_the_model(tmp_path: Path) -> None:
    parts = [b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 10]
    model, paths = fake_model(tmp_path, parts, b"".join(parts))
    paths[1].write_bytes(b"B" * 7000)  # same size, other bytes
    with pytest.raises(ValueError, match="SHA-256"):
        bundled.assemble(model, tmp_path / "models", paths)
    assert list((tmp_path / "models").iterdir()) == []  # no partial or wrong file left
    with pytest.raises(ValueError, match=r"local-coder"):
        bundled.chunk_paths(model)  # the fake packages are not installed


def test_the_coder_model_is_the_embedded_default_when_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(discovery.EMBEDDED_ENV, raising=False)
    monkeypatch.setattr(discovery, "coder_model_installed", lambda: True)
    monkeypatch.setattr(discovery, "bundled_model_installed", lambda: True)
    [entry] = discovery.embedded_config()["models"]
    assert entry["model"] == "qwen2.5-coder-1.5b" and "autocomplete" in entry["roles"]
    assert ModelConfig.model_validate(entry).is_local
    monkeypatch.setenv(discovery.EMBEDDED_ENV, "gemma-3-270m")  # the small one, by name
    assert discovery.embedded_config()["models"][0]["model"] == "gemma-3-270m"
    assert discovery.embedded_default_applies()
    monkeypatch.setattr(discovery, "coder_model_installed", lambda: False)
    monkeypatch.delenv(discovery.EMBEDDED_ENV)
    [entry] = discovery.embedded_config()["models"]
    assert entry["model"] == "gemma-3-270m" and entry["name"] == discovery.EMBEDDED_MODEL_NAME
