"""Shared pytest fixtures."""
pytest_plugins = ["tests.hf_server", "tests.inference_support"]  # HF server + client fixtures
