"""File URIs and the paths shown to a model."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit


def uri_to_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI (None for other schemes: untitled, git, …)."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if len(path) > 2 and path[0] == "/" and path[2] == ":":  # file:///C:/… on Windows
        path = path[1:]
    return Path(path)


def display_path(path: Path, root: Path | None) -> str:
    """Workspace-relative with ``/`` separators when inside the root, else the name."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name


def workspace_root_of(path: Path) -> Path:
    """The workspace of a file named on the command line: the nearest folder above it
    holding ``.git`` or ``.bytebuddy``, else the current directory when it holds the
    file, else the file's folder."""
    for parent in path.parents:
        if (parent / ".git").exists() or (parent / ".bytebuddy").is_dir():
            return parent
    cwd = Path.cwd().resolve()
    return cwd if cwd in path.parents else path.parent
