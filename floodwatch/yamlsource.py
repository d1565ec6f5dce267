"""Load YAML keeping the line and column of every key and value, and validate it into models.

PyYAML's plain loaders forget where a value came from and silently accept duplicate keys.
Here the node tree is composed first, so every value keeps its mark; duplicate keys and
unset ``${ENV}`` references are reported with their place; and pydantic validation errors
are mapped back to ``file:line:col: key.path: message``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, SecretStr, ValidationError

from floodwatch.errors import ConfigError, Problem

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EnvStr(str):
    """A string whose text came from the environment (``${NAME}``), never from the file."""

    __slots__ = ()


def _secret(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, EnvStr):
        raise ValueError("secrets come from the environment: write ${VARIABLE}, not the secret")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_secret)]
"""A config string that must be given as ``${ENV}`` (never written in YAML); its repr is masked."""


@dataclass
class Document:
    """A parsed YAML document: its plain data and where each path of it stands in the file."""

    file: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """Line and column (1-based) of the deepest part of `loc` that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.marks:
                return self.marks[loc]
            loc = loc[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        line, col = self.where(loc)
        return Problem(self.file, line, col, dotted(loc), message)


def dotted(loc: Sequence[str | int]) -> str:
    """``("rules", 0, "levels")`` -> ``rules[0].levels``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load(path: str | Path, *, env: Mapping[str, str] | None = None) -> Document:
    """Parse one YAML file; raise ConfigError with the place of any syntax or structure error."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, 1, 1, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"not UTF-8 text: {exc.reason}")]) from None
    return loads(text, name, env=os.environ if env is None else env)


def loads(text: str, name: str, *, env: Mapping[str, str]) -> Document:
    """Parse YAML text named `name` (used in messages)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}: {what}"
        raise ConfigError([Problem(name, line, col, "", f"YAML syntax error: {what}")]) from None
    doc = Document(name, None)
    problems: list[Problem] = []
    if node is None:
        raise ConfigError([Problem(name, 1, 1, "", "the file is empty")])
    doc.data = _build(node, (), doc, problems, env)
    if problems:
        raise ConfigError(problems)
    return doc


_constructor = yaml.SafeLoader("")
# PyYAML's constructor remembers every node it built; each scalar is forgotten once built
# (otherwise every load and roster reload would keep its whole node tree alive), and the shared
# constructor is used by one thread at a time.
_constructor_lock = threading.Lock()


def _build(
    node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem], env: Mapping[str, str]
) -> Any:
    doc.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(doc.problem(loc, "YAML merge keys (<<) are not supported"))
                continue
            key = _scalar(key_node, loc, doc, problems)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*loc, key)
            if key in out:
                first = doc.marks[child]
                doc.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                problems.append(
                    doc.problem(child, f"duplicate key (first given at line {first[0]})")
                )
                continue
            doc.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, child, doc, problems, env)
            # a key's own mark is more useful than its value's for "unknown key" messages
            doc.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), doc, problems, env) for i, item in enumerate(node.value)]
    value = _scalar(node, loc, doc, problems)
    if isinstance(value, str) and "${" in value:
        return _expand(value, loc, doc, problems, env)
    return value


def _scalar(node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem]) -> Any:
    """Construct a scalar; an impossible value (a date like 2026-06-31) is a located problem."""
    try:
        with _constructor_lock:
            try:
                return _constructor.construct_object(node, deep=True)
            finally:
                _constructor.constructed_objects.pop(node, None)
    except ValueError as exc:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        what = "date or time" if node.tag.endswith(":timestamp") else "value"
        message = f"{node.value!r} is not a valid {what}: {exc}"
        problems.append(Problem(doc.file, line, col, dotted(loc), message))
        return str(node.value)


def _expand(
    value: str, loc: Loc, doc: Document, problems: list[Problem], env: Mapping[str, str]
) -> str:
    missing = [m.group(1) for m in _ENV_REF.finditer(value) if m.group(1) not in env]
    if missing:
        names = ", ".join(missing)
        problems.append(doc.problem(loc, f"environment variable {names} is not set"))
        return value
    return EnvStr(_ENV_REF.sub(lambda m: env[m.group(1)], value))


def validate(model: type[M], doc: Document, loc: Loc = (), data: Any = None) -> M:
    """Validate `doc` (or `data` found at `loc` in it) into `model`; ConfigError names places."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, doc, loc)) from None


def problems_from(exc: ValidationError, doc: Document, base: Loc = ()) -> list[Problem]:
    """Turn pydantic's errors into located problems with messages an administrator can act on."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = _in_file(doc.data, (*base, *err["loc"]))
        problems.append(doc.problem(loc, _message(err)))
    return problems


def _in_file(data: Any, loc: Loc) -> Loc:
    """Drop the parts of a pydantic location that are not in the file (union tags, validators).

    The last part is kept even when absent: it is the name of a missing key.
    """
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif i < len(loc) - 1:
            continue
        out.append(part)
    return tuple(out)


def _message(err: Any) -> str:
    kind = err["type"]
    found = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the README for the keys allowed here)"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg}, found {_show(found)}"
    return msg


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)
