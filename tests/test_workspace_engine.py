"""The context engine's decisions: mentions, options, the trust switch, retrieval reasons."""

from __future__ import annotations

from pathlib import Path

from bytebuddy_ls.config.schema import ContextConfig
from bytebuddy_ls.config.settings import ContextSettings
from bytebuddy_ls.inference import InferenceClient
from bytebuddy_ls.workspace.embedders import LocalEmbedder, RemoteEmbedder
from bytebuddy_ls.workspace.engine import ContextEngine, ContextOptions, parse_mentions

from .inference_support import make_model


def test_mentions() -> None:
    found = parse_mentions("@workspace where is @file:src/a.py used? also @lib/b.ts, mail x@y.com")
    assert found.workspace
    assert found.files == ("src/a.py", "lib/b.ts")
    assert found.text == "where is used? also , mail x@y.com"
    assert parse_mentions("@codebase hi").workspace
    none = parse_mentions("no mentions here, user@example.com")
    assert not none.workspace and none.files == ()


def test_options_from_config_and_settings() -> None:
    config = ContextConfig(maxTokens=300, exclude=["dist/"], index=True)
    options = ContextOptions.from_config(config, ContextSettings(index=False))
    assert options.max_tokens == 300 and options.exclude == ("dist/",) and not options.index
    assert ContextOptions.from_config(None).enabled


async def test_untrusted_workspace_never_uses_a_remote_embedder(tmp_path: Path) -> None:
    remote = make_model(
        "https://embeddings.example.invalid", provider="openai", model="e", roles=["embed"]
    )
    local_server = make_model("http://127.0.0.1:9", provider="openai", model="e", roles=["embed"])
    client = InferenceClient()
    try:
        engine = ContextEngine(lambda: [], lambda: tmp_path)
        engine.client = client
        engine.embed_chain = lambda: [remote]
        trusted = False
        engine.remote_embedding_allowed = lambda: trusted
        embedder, note = engine.choose_embedder()
        assert not isinstance(embedder, RemoteEmbedder) and "not trusted" in note
        trusted = True
        embedder, note = engine.choose_embedder()
        assert isinstance(embedder, RemoteEmbedder) and note == "model 'test-model'"
        # A server on this machine is not "remote": no trust needed.
        trusted = False
        engine.embed_chain = lambda: [local_server]
        embedder, _ = engine.choose_embedder()
        assert isinstance(embedder, RemoteEmbedder) and not embedder.remote
        # Without an embed model, lexical search only: the local embedder costs ~250 MB
        # of memory, so it runs only when the config asks for it.
        engine.embed_chain = lambda: []
        embedder, note = engine.choose_embedder()
        assert embedder is None and "context.embeddings: local" in note
        engine.configure(ContextOptions(embeddings="local"))
        assert isinstance(engine.choose_embedder()[0], LocalEmbedder)
        engine.configure(ContextOptions(embeddings="off"))
        assert engine.choose_embedder() == (None, "off (context.embeddings: off)")
    finally:
        await client.aclose()


async def test_retrieval_says_why_nothing_came_back(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def alpha():\n    pass\n")
    engine = ContextEngine(lambda: [], lambda: tmp_path)
    engine.configure(ContextOptions(embeddings="off", index=False))
    assert (await engine.retrieve("alpha")).reason == (
        "the workspace index is off (context.index: false)"
    )
    engine.configure(ContextOptions(embeddings="off"))
    first = await engine.retrieve("alpha")  # starts the build; never waits for it
    assert first.reason is not None and first.reason.startswith("index not built yet")
    await engine.wait_for_index()
    found = await engine.retrieve("alpha")
    assert [s.path for s in found.snippets] == ["a.py"] and found.reason is None
    assert (await engine.retrieve("zebra")).reason == (
        "nothing relevant: no indexed chunk matches the question"
    )
    tight = await engine.retrieve("alpha", budget_tokens=3)
    assert (
        tight.snippets == [] and tight.reason is not None and tight.reason.startswith("budget full")
    )
    engine.stop_index()


async def test_a_burst_of_file_events_is_indexed_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def alpha():\n    pass\n")
    engine = ContextEngine(lambda: [], lambda: tmp_path)
    engine.configure(ContextOptions(embeddings="off"))
    engine.start_index()
    await engine.wait_for_index()
    passes = 0
    original = engine._drain_updates

    async def counting() -> None:
        nonlocal passes
        passes += 1
        await original()

    engine._drain_updates = counting  # type: ignore[method-assign]
    for number in range(30):
        path = tmp_path / f"gen{number}.py"
        path.write_text(f"def generated_function_{number}():\n    pass\n")
        engine.note_file_event(path.as_uri(), deleted=False)
    (tmp_path / "a.py").unlink()
    engine.note_file_event((tmp_path / "a.py").as_uri(), deleted=True)
    assert engine._updater is not None
    await engine._updater
    assert passes == 1
    found = await engine.retrieve("generated_function_17")
    assert found.snippets[0].path == "gen17.py"
    assert (await engine.retrieve("alpha")).snippets == []
    engine.stop_index()
