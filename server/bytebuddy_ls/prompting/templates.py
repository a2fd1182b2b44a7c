"""Prompt templates (``promptTemplates`` in the config): one Mustache/Handlebars-style
renderer for every role, so a template means the same in autocomplete, edit, apply and
chat."""

from __future__ import annotations

import re
from collections.abc import Mapping

_SECTION = re.compile(
    r"\{\{\s*(?:#if\s+(?P<if>\w+)|(?P<kind>[#^])\s*(?P<name>\w+))\s*\}\}"
    r"(?P<body>(?:(?!\{\{\s*[#^]).)*?)"
    r"\{\{\s*/\s*(?:if|(?P=name))\s*\}\}",
    re.DOTALL,
)
_VARIABLE = re.compile(r"\{\{\{\s*(\w+)\s*\}\}\}|\{\{\s*(\w+)\s*\}\}")
_ELSE = re.compile(r"\{\{\s*else\s*\}\}")


def render_template(template: str, variables: Mapping[str, str]) -> str:
    """Fill a Mustache/Handlebars-style prompt template.

    ``{{name}}`` and ``{{{name}}}`` both insert the raw value (code is never escaped);
    names match case-insensitively. Sections render their body when the variable is
    non-empty: ``{{#if name}}…{{else}}…{{/if}}``, ``{{#name}}…{{/name}}``, and the
    inverted ``{{^name}}…{{/name}}``. Unknown names are left as written, so a typo shows.
    """
    values = {key.lower(): value for key, value in variables.items()}

    def section(match: re.Match[str]) -> str:
        name = (match["if"] or match["name"]).lower()
        present = bool(values.get(name, "").strip())
        if match["kind"] == "^":
            present = not present
        parts = _ELSE.split(match["body"], maxsplit=1)
        then = parts[0]
        otherwise = parts[1] if len(parts) > 1 else ""
        return then if present else otherwise

    previous = None
    while previous != template:  # innermost sections first, until none is left
        previous = template
        template = _SECTION.sub(section, template)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name.lower(), match.group(0))

    return _VARIABLE.sub(variable, template)


def template_variables(template: str) -> set[str]:
    """The variable names a template uses (lowercased), to warn about unknown ones."""
    names = {(m.group(1) or m.group(2)).lower() for m in _VARIABLE.finditer(template)}
    names |= {(m["if"] or m["name"]).lower() for m in _SECTION.finditer(template)}
    return names - {"else"}


def mentions(template: str, variable: str) -> bool:
    """Whether ``template`` uses ``variable`` (case-insensitive), as a value or section."""
    return variable.lower() in template_variables(template)


def literal_text(template: str) -> str:
    """The template with every variable replaced by a space: what it sends as written."""
    return _VARIABLE.sub(" ", template)
