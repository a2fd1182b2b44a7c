"""Fixtures of the security suite: secrets in the environment, an attacker over https."""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from .attacker import Attacker, AttackerCA, resolver_env

HF_TOKEN = "hf_" + random_secrets.token_hex(17)
AWS_SECRET = "aws-" + random_secrets.token_hex(16)
SECRETS = (HF_TOKEN, AWS_SECRET)


@pytest.fixture
def secret_env() -> dict[str, str]:
    return {"HF_TOKEN": HF_TOKEN, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}


@pytest.fixture
def attacker_ca(tmp_path: Path) -> AttackerCA:
    return AttackerCA(tmp_path)


@pytest_asyncio.fixture
async def attacker(attacker_ca: AttackerCA) -> AsyncIterator[Attacker]:
    server = Attacker(attacker_ca.server_context())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def attack_env(attacker_ca: AttackerCA, secret_env: dict[str, str]) -> dict[str, str]:
    """The server's environment: the user's secrets, and the attacker names resolving."""
    return {**secret_env, **resolver_env(attacker_ca)}
