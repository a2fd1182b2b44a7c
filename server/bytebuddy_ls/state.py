"""Where the user's state lives (trusted configs, the usage ledger, prices).

One definition, so the trust store and the usage ledger never disagree about the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_NAME = "bytebuddy-ls"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/bytebuddy-ls`` (default ``~/.local/state/bytebuddy-ls``).

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG spec asks: the directory must not
    depend on the working directory the server was started in.
    """
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / STATE_DIR_NAME
