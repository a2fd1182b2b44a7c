"""Dedicated Inference Endpoints: the management API, endpoint state in the editor,
resume prompts, waking, warm-up, idle pause and the ``endpoint`` CLI.

- ``api``: the management API client (httpx; base ``$BYTEBUDDY_ENDPOINTS_API_URL``);
- ``manager``: per-model endpoint state, the ``prepare`` hook run before inference,
  the resume prompt and waits, idle pause;
- ``warmup``: 1-token warm-up requests on start-up or first open;
- ``cli``: ``bytebuddy-ls endpoint list|status|resume|pause|scale-to-zero|wait``.
"""

from .api import (
    API_URL_ENV,
    DEFAULT_API_URL,
    STATES,
    EndpointInfo,
    EndpointsAPI,
    EndpointsAPIError,
)
from .manager import (
    EndpointFailedError,
    EndpointManager,
    EndpointPausedError,
    EndpointUI,
)
from .warmup import Warmer

__all__ = [
    "API_URL_ENV",
    "DEFAULT_API_URL",
    "STATES",
    "EndpointFailedError",
    "EndpointInfo",
    "EndpointManager",
    "EndpointPausedError",
    "EndpointUI",
    "EndpointsAPI",
    "EndpointsAPIError",
    "Warmer",
]
