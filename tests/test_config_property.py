"""Arbitrary text and schema-shaped data never raise anything but ConfigError."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytebuddy_ls.config import ConfigError, ConfigSourceKind, load_config_data, load_config_text

yaml_chars = st.text(alphabet=string.printable + "ü字😀\t", max_size=300)
yaml_like = st.lists(
    st.sampled_from(
        [
            "models:",
            "  - name: a",
            "    provider: openai",
            "    model: m",
            "  roles: [chat",
            "apiKey: ${X}",
            "- ",
            ": :",
            "&a",
            "*a",
            "!!python/object:os.system",
            "{",
            "}",
            "'",
            "    defaultCompletionOptions: {temperature: 9}",
            "prompts: 3",
            "\t",
            "---",
            "...",
        ]
    ),
    max_size=12,
).map("\n".join)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
model_like = st.fixed_dictionaries(
    {},
    optional={
        "name": scalars,
        "provider": st.one_of(scalars, st.sampled_from(["openai", "huggingface-tgi", "hf"])),
        "model": scalars,
        "roles": st.one_of(scalars, st.lists(st.one_of(scalars, st.sampled_from(["chat"])))),
        "apiBase": st.one_of(scalars, st.just("http://127.0.0.1:1")),
        "defaultCompletionOptions": st.dictionaries(
            st.sampled_from(["stop", "topP", "x"]), scalars
        ),
        "requestOptions": st.one_of(
            scalars, st.dictionaries(st.sampled_from(["timeout", "headers"]), scalars)
        ),
    },
)
config_like = st.one_of(
    scalars,
    st.fixed_dictionaries(
        {},
        optional={
            "models": st.one_of(scalars, st.lists(st.one_of(model_like, scalars), max_size=3)),
            "prompts": scalars,
        },
    ),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(yaml_chars, yaml_like))
def test_any_text_loads_or_raises_config_error(text: str) -> None:
    try:
        load_config_text(text, "fuzz.yaml", ConfigSourceKind.FLAG)
    except ConfigError as exc:
        assert exc.diagnostics
        assert all(
            d.line >= 1 and d.column >= 1 and d.origin == "fuzz.yaml" for d in exc.diagnostics
        )


@settings(max_examples=300, deadline=None)
@given(config_like)
def test_any_data_loads_or_raises_config_error(data: object) -> None:
    try:
        load_config_data(data, "inline", ConfigSourceKind.INLINE)
    except ConfigError as exc:
        assert exc.diagnostics
