"""Editor settings: one bad value is ignored on its own; the others still apply."""

from __future__ import annotations

from bytebuddy_ls.config.settings import Settings, parse_settings


def test_a_bad_field_does_not_drop_the_valid_ones() -> None:
    settings = parse_settings(
        {"configPath": "/tmp/c.yaml", "autocomplete": {"debounceMs": "soon", "enabled": False}}
    )
    assert settings.configPath == "/tmp/c.yaml"
    assert settings.autocomplete.enabled is False
    assert settings.autocomplete.debounceMs == Settings().autocomplete.debounceMs


def test_bad_values_keep_the_previous_ones() -> None:
    before = parse_settings({"autocomplete": {"debounceMs": 120}, "logLevel": "debug"})
    after = parse_settings(
        {"bytebuddy": {"autocomplete": {"debounceMs": -5}, "logLevel": "loud", "chat": 3}},
        before,
    )
    assert after.autocomplete.debounceMs == 120
    assert after.logLevel == "debug"
    assert after.chat == before.chat


def test_unknown_keys_and_non_objects_are_ignored() -> None:
    assert parse_settings("nonsense") == Settings()
    assert parse_settings(
        {"unknown": 1, "chat": {"systemPrompt": "Be brief."}}
    ).chat.systemPrompt == ("Be brief.")
