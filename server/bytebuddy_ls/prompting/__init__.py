"""Prompt building and model-output handling: FIM, edit, apply, chat."""
