from __future__ import annotations

from pathlib import Path

import pytest

from bytebuddy_ls.config import ConfigSourceKind, ConfigState, load_config_data, models_for_role
from bytebuddy_ls.config.discovery import find_config
from bytebuddy_ls.config.tokens import resolve_token


def config(*models: dict[str, object]):
    return load_config_data({"models": list(models)}, "inline", ConfigSourceKind.INLINE).config


def m(name: str, roles: list[str] | None = None, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {"name": name, "provider": "openai", "model": f"org/{name}"}
    if roles is not None:
        data["roles"] = roles
    data.update(extra)
    return data


def names(models) -> list[str]:
    return [x.name for x in models]


def test_default_roles_are_chat_edit_apply() -> None:
    cfg = config(m("a"))
    assert names(models_for_role(cfg, "chat")) == ["a"]
    assert names(models_for_role(cfg, "apply")) == ["a"]
    assert models_for_role(cfg, "autocomplete") == []


def test_first_listing_model_serves_and_others_form_the_chain() -> None:
    cfg = config(m("a", ["chat"]), m("b", ["chat", "edit"]), m("c", ["autocomplete"]))
    assert names(models_for_role(cfg, "chat")) == ["a", "b"]
    assert names(models_for_role(cfg, "edit")) == ["b"]
    assert names(models_for_role(cfg, "autocomplete")) == ["c"]


def test_fallbacks_edit_to_chat_apply_to_edit_then_chat() -> None:
    cfg = config(m("chatty", ["chat"]), m("fim", ["autocomplete"]))
    assert names(models_for_role(cfg, "edit")) == ["chatty"]
    assert names(models_for_role(cfg, "apply")) == ["chatty"]
    cfg = config(m("chatty", ["chat"]), m("editor", ["edit"]))
    assert names(models_for_role(cfg, "apply")) == ["editor"]
    cfg = config(m("chatty", ["chat"]))
    assert models_for_role(cfg, "autocomplete") == []


def test_selection_moves_a_model_to_the_front(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n"
        "  - {name: a, provider: openai, model: x, roles: [chat]}\n"
        "  - {name: b, provider: openai, model: y, roles: [chat]}\n"
    )
    state = ConfigState(flag=str(path))
    assert state.reload().changed
    state.select("chat", "b")
    assert names(state.chain("chat")) == ["b", "a"]
    with pytest.raises(ValueError, match="no model named 'zzz'"):
        state.select("chat", "zzz")


def test_unusable_model_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSENT_VAR", raising=False)
    cfg = config(m("a", ["chat"], apiKey="${ABSENT_VAR}"), m("b", ["chat"]))
    assert names(models_for_role(cfg, "chat")) == ["b"]


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".bytebuddy").mkdir(parents=True)
    (home / ".bytebuddy" / "config.yaml").write_text("models: []\n")
    root = tmp_path / "repo"
    (root / ".bytebuddy").mkdir(parents=True)
    (root / ".bytebuddy" / "config.yaml").write_text("models: []\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("BYTEBUDDY_CONFIG", raising=False)

    def kind(**kw: object) -> str:
        source = find_config(**kw)  # type: ignore[arg-type]
        assert source is not None
        return source.kind.value

    assert kind() == "user"
    assert kind(workspace_root=root) == "workspace"
    monkeypatch.setenv("BYTEBUDDY_CONFIG", str(tmp_path / "env.yaml"))
    assert kind(workspace_root=root) == "env"
    assert kind(workspace_root=root, init_options={"configPath": "/x.yaml"}) == "init-path"
    inline = {"config": {"models": []}, "configPath": "/x.yaml"}
    assert kind(workspace_root=root, init_options=inline) == "inline"
    assert kind(flag="/f.yaml", init_options=inline) == "flag"


def test_token_order_and_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    router = config(m("r", provider="huggingfaceinferenceapi")).models[0]
    assert resolve_token(router) is None
    (tmp_path / "token").write_text("hf_fromfilefromfilefromfile\n")
    token = resolve_token(router)
    assert token is not None and token.source.startswith("token file")
    assert token.value.get_secret_value() == "hf_fromfilefromfilefromfile"
    monkeypatch.setenv("HF_API_KEY", "hf_apikeyapikeyapikey")
    assert resolve_token(router).source == "$HF_API_KEY"  # type: ignore[union-attr]
    monkeypatch.setenv("HF_TOKEN", "hf_envtokenenvtokenenv")
    assert resolve_token(router).source == "$HF_TOKEN"  # type: ignore[union-attr]
    explicit = config(m("k", provider="huggingfaceinferenceapi", apiKey="hf_explicitexplicit"))
    assert resolve_token(explicit.models[0]).source == "apiKey in config"  # type: ignore[union-attr]
    # A Hugging Face token from the environment never goes to a third-party host.
    other = config(m("o", apiBase="https://api.example.com/v1")).models[0]
    assert resolve_token(other) is None
    assert "hf_envtokenenvtokenenv" not in repr(resolve_token(router))
