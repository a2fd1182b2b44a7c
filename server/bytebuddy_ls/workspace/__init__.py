"""Workspace context: what other files contribute to a prompt.

- ``crossfile``: cheap context for autocomplete (definitions of the names near the
  cursor from imported files and open documents, recent edits, similar code in open tabs);
- ``index``: the workspace index for chat and edit (BM25, plus vectors when an embedder
  is available), built in the background;
- ``engine``: the one place that decides what the next prompt includes, used by the
  prompts themselves and by the context inspector (``bytebuddy/context``).
"""
