"""Which files of a workspace may be indexed: ``.gitignore`` rules, excludes, size caps,
binary files.

The ignore rules follow git's: one ``.gitignore`` per directory (plus
``.git/info/exclude``), patterns relative to their directory, ``!`` re-includes, a
trailing ``/`` matches directories only, a ``/`` elsewhere anchors the pattern, ``**``
spans directories; a later rule wins over an earlier one and a deeper file over a
shallower one. A directory that is ignored is not entered (git does the same: a file
inside it cannot be re-included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Never worth indexing, whatever .gitignore says (or when there is none).
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    "node_modules/",
    ".venv/",
    "venv/",
    "__pycache__/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
    ".tox/",
    ".bytebuddy/cache/",
    "*.min.js",
    "*.map",
    "*.lock",
    "package-lock.json",
)
DEFAULT_MAX_FILE_BYTES = 512 * 1024
DEFAULT_MAX_FILES = 20_000
# Extensions that are never text worth retrieving (checked before reading the file).
_BINARY_SUFFIX_LINES = (
    ".png .jpg .jpeg .gif .bmp .ico .webp .pdf .zip .gz .tgz .bz2 .xz .7z .tar .jar .war",
    ".class .o .a .so .dylib .dll .exe .bin .pyc .pyo .whl .egg .woff .woff2 .ttf .otf",
    ".eot .mp3 .mp4 .wav .ogg .flac .mov .avi .mkv .webm .sqlite .db .gguf .onnx",
    ".safetensors .pt .pth .npy .npz .pkl .parquet .arrow .psd .ai .sketch",
)
BINARY_SUFFIXES = frozenset(s for line in _BINARY_SUFFIX_LINES for s in line.split())


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def _translate(glob: str) -> str:
    """A gitignore glob (without its anchor/dir markers) as a regex over a relative path."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            piece, i = _translate_bracket(glob, i)
            out.append(piece)
        elif c == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _translate_bracket(glob: str, start: int) -> tuple[str, int]:
    """The character class opening at ``glob[start]`` and the index after it.

    An unclosed ``[`` is a literal bracket; a leading ``!`` negates the class.
    """
    end = glob.find("]", start + 1)
    if end < 0:
        return re.escape("["), start + 1
    body = glob[start + 1 : end]
    if body.startswith("!"):
        body = "^" + body[1:]
    return f"[{body}]", end + 1


def parse_ignore(lines: Iterable[str]) -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in lines:
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        # Trailing spaces are ignored unless escaped.
        while line.endswith(" ") and not line.endswith("\\ "):
            line = line[:-1]
        negated = line.startswith("!")
        if negated or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        pattern = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
        try:
            rules.append(_Rule(re.compile(pattern), negated, dir_only))
        except re.error:
            continue  # a pattern git would not understand either
    return rules


@dataclass
class IgnoreRules:
    """The rules in force for one directory: its parents' and its own, in order."""

    # (base directory relative to the root, "" for the root; rules)
    layers: list[tuple[str, list[_Rule]]] = field(default_factory=list)

    def with_layer(self, base: str, rules: list[_Rule]) -> IgnoreRules:
        return IgnoreRules([*self.layers, (base, rules)]) if rules else self

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        verdict = False
        for base, rules in self.layers:
            if base:
                if not rel_path.startswith(base + "/"):
                    continue
                local = rel_path[len(base) + 1 :]
            else:
                local = rel_path
            for rule in rules:
                if rule.dir_only and not is_dir:
                    continue
                if rule.regex.match(local):
                    verdict = not rule.negated
        return verdict


def _read_rules(path: Path) -> list[_Rule]:
    try:
        return parse_ignore(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        return []


@dataclass(frozen=True)
class FilePolicy:
    """What the index accepts: ``exclude`` globs (gitignore syntax, from the settings),
    the per-file size cap and the file count cap."""

    exclude: tuple[str, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_files: int = DEFAULT_MAX_FILES
    use_gitignore: bool = True

    def base_rules(self, root: Path) -> IgnoreRules:
        rules = IgnoreRules().with_layer("", parse_ignore(DEFAULT_EXCLUDES))
        if self.use_gitignore:
            rules = rules.with_layer("", _read_rules(root / ".git" / "info" / "exclude"))
        return rules


@dataclass
class WalkReport:
    """Why files were left out, for the index status and the inspector."""

    ignored: int = 0
    too_large: int = 0
    binary: int = 0
    over_limit: int = 0


def walk(root: Path, policy: FilePolicy, report: WalkReport | None = None) -> Iterator[Path]:
    """Indexable files under ``root`` (absolute paths), in a stable order.

    Excluded and ignored directories are not entered; symlinks are not followed (a link
    loop or a link out of the workspace must not be indexed). Size is checked here;
    content (binary) when the file is read, see ``read_text_file``.
    """
    report = report or WalkReport()
    count = 0
    stack: list[tuple[Path, str, IgnoreRules]] = [(root, "", policy.base_rules(root))]
    # The root's own exclude rules come last so a user's exclude beats a .gitignore "!".
    user = parse_ignore(policy.exclude)
    while stack:
        directory, rel_dir, rules = stack.pop()
        if policy.use_gitignore:
            rules = rules.with_layer(rel_dir, _read_rules(directory / ".gitignore"))
        check = rules.with_layer("", user)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        subdirs: list[tuple[Path, str, IgnoreRules]] = []
        for entry in reversed(entries):
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            is_dir = _plain_entry_is_dir(entry)
            if is_dir is None:
                continue
            if check.ignored(rel, is_dir):
                report.ignored += 1
                continue
            if is_dir:
                subdirs.append((Path(entry.path), rel, rules))
                continue
            if not _admit_file(entry, policy, report):
                continue
            if count >= policy.max_files:
                report.over_limit += 1
                continue
            count += 1
            yield Path(entry.path)
        stack.extend(reversed(subdirs))


def _plain_entry_is_dir(entry: os.DirEntry[str]) -> bool | None:
    """Whether a directory entry is a directory; None for a symlink (never followed) or an
    entry that vanished or cannot be inspected."""
    try:
        if entry.is_symlink():
            return None
        return entry.is_dir()
    except OSError:
        return None


def _admit_file(entry: os.DirEntry[str], policy: FilePolicy, report: WalkReport) -> bool:
    """Whether a file that no ignore rule excludes may be indexed: not binary by its
    suffix, still there, and within the size limit. Counts what it refuses in ``report``."""
    if Path(entry.name).suffix.lower() in BINARY_SUFFIXES:
        report.binary += 1
        return False
    try:
        size = entry.stat().st_size
    except OSError:
        return False
    if size > policy.max_file_bytes:
        report.too_large += 1
        return False
    return True


def is_ignored(root: Path, path: Path, policy: FilePolicy) -> bool:
    """Whether one file (e.g. one that just changed) is outside what ``walk`` yields."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return True
    parts = rel.parts
    rules = policy.base_rules(root)
    user = parse_ignore(policy.exclude)
    directory = root
    rel_dir = ""
    for index, part in enumerate(parts):
        if policy.use_gitignore:
            rules = rules.with_layer(rel_dir, _read_rules(directory / ".gitignore"))
        rel_dir = f"{rel_dir}/{part}" if rel_dir else part
        is_dir = index < len(parts) - 1
        if rules.with_layer("", user).ignored(rel_dir, is_dir):
            return True
        directory = directory / part
    return path.suffix.lower() in BINARY_SUFFIXES


def read_text_file(path: Path, max_bytes: int) -> str | None:
    """The file's text, or None when it is too large, binary or unreadable.

    Binary = a NUL byte in the first 8 KiB, or bytes that are not UTF-8 (latin-1
    sources are rare enough in code to skip)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError:
        return None
    if len(data) > max_bytes or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
