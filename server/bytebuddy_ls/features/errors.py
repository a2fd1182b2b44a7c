"""The LSP error a feature raises when a valid request cannot be carried out."""

from __future__ import annotations

from pygls.exceptions import JsonRpcException

# LSP's RequestFailed: the request was valid but could not be carried out.
REQUEST_FAILED = -32803


class RequestFailed(JsonRpcException):
    CODE = REQUEST_FAILED


def request_failed(message: str) -> RequestFailed:
    """A RequestFailed whose message is shown to the user as it is."""
    return RequestFailed(message=message, code=REQUEST_FAILED)
