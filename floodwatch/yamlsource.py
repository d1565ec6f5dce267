"""Load YAML keeping the line and column of every key and value, and validate it into models.

PyYAML's plain loaders forget where a value came from and silently accept duplicate keys.
Here the node tree is composed first, so every value keeps its mark; duplicate keys and
unset ``${ENV}`` references are reported with their place; and pydantic validation errors
are mapped back to ``file:line:col: key.path: message``.

Every config and roster file, at start-up, in `floodwatch check` and in the roster hot reload,
is read here, so hostile YAML is refused here, cheaply and before anything is built: a file
larger than MAX_FILE_BYTES is not read; lists and mappings nested deeper than MAX_DEPTH stop
the composer (which recurses) at that depth; aliases are counted while composing, so an anchor
bomb ("billion laughs") stops once MAX_ALIAS_VALUES values would have been copied; and no file
may hold more than MAX_VALUES values, which bounds the time any file within the size limit takes
(about 2 s at worst, for 50,000 tiny values).
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
import types
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, SecretStr, Tag, ValidationError

from floodwatch.errors import ConfigError, Problem, close_matches, did_you_mean, first_few
from floodwatch.i18n import Text, _

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 256 * 1024
"""Rosters and village files are a few kilobytes (a roster of 1,000 people about 100 KiB); a
larger file is refused before it is read."""
MAX_DEPTH = 64
"""Lists and mappings inside each other; floodwatch's own files need 6."""
MAX_ALIAS_VALUES = 10_000
"""Values that aliases (``*name``) may add by repeating what their anchor (``&name``) names."""
MAX_VALUES = 50_000
"""Values written in one file (a roster of 1,000 people has about 10,000): PyYAML's Python
parser composes some 30,000 a second (libyaml's, used where PyYAML has it, about twice that), so
this bounds the time a file of many small values can take."""
CONFIG_MAX_BYTES = 4 * 1024 * 1024
CONFIG_MAX_VALUES = 200_000
"""The config lists every station with its rules, in one file: 2,000 stations with a rule each
are about 600 KiB and 64,000 values, so its limits are higher (at worst about 7 s to compose)."""


@dataclass(frozen=True)
class Limits:
    """How large a file of one kind may be: bytes, and values written in it."""

    bytes: int
    values: int


FILES = Limits(MAX_FILE_BYTES, MAX_VALUES)  # rosters and village files
CONFIG = Limits(CONFIG_MAX_BYTES, CONFIG_MAX_VALUES)  # floodwatch.yaml
MAX_NUMBER_CHARS = 64
"""A longer number is a slip (or an attack: YAML 1.1's base-60 integers cost quadratic time)."""

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}": t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_WHAT = {
    "int": _("whole number"), "float": _("number"), "bool": _("true/false value"),
    "timestamp": _("date or time"), "null": _("null value"),
}  # fmt: skip


class EnvStr(str):
    """A string whose text came from the environment (``${NAME}``), never from the file."""

    __slots__ = ()


def _secret(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, EnvStr):
        raise Invalid(_("secrets come from the environment: write ${{VARIABLE}}, not the secret"))
    return value


Secret = Annotated[SecretStr, BeforeValidator(_secret)]
"""A config string that must be given as ``${ENV}`` (never written in YAML); its repr is masked."""


class Invalid(ValueError):
    """Raised by a validator with its message in the catalogue (or in English, a str): the
    problem it becomes is shown in the reader's language. `str()` is the English."""

    def __init__(self, message: str | Text) -> None:
        super().__init__(str(message))
        self.text = message


def message_of(error: BaseException) -> str | Text:
    """An error's message as the catalogue has it (its `text`, as Invalid and
    floodwatch.i18n.Refused carry), else its English."""
    text = getattr(error, "text", None)
    return text if isinstance(text, Text) else str(error)


class AtKey(Invalid):
    """Raised by a model validator to report its problem at a key inside the entry (the
    offending value) instead of at the whole entry: ``AtKey(("members", 2), "listed twice")``."""

    def __init__(self, loc: str | int | tuple[str | int, ...], message: str | Text) -> None:
        super().__init__(message)
        self.loc: Loc = loc if isinstance(loc, tuple) else (loc,)


@dataclass
class Document:
    """A parsed YAML document: its plain data and where each path of it stands in the file."""

    file: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def line_of(self, loc: Sequence[str | int]) -> str:
        """``file:line`` of `loc`: how a message names another place in the files."""
        return f"{self.file}:{self.where(loc)[0]}"

    def where(self, loc: Sequence[str | int]) -> tuple[int, int]:
        """Line and column (1-based) of the deepest part of `loc` that exists in the file."""
        loc = tuple(loc)
        while loc:
            if loc in self.marks:
                return self.marks[loc]
            loc = loc[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, loc: Sequence[str | int], message: str | Text) -> Problem:
        line, col = self.where(loc)
        return Problem(self.file, line, col, dotted(loc), message)


class References:
    """Names used in files and defined nowhere. One such name is one mistake however often it
    is used: it is reported once, at its first use, naming the other places."""

    def __init__(self) -> None:
        self.uses: dict[tuple[str, str], list[tuple[Document, Loc, str | Text]]] = {}

    def unknown(self, kind: str, name: str, doc: Document, loc: Loc, message: str | Text) -> None:
        self.uses.setdefault((kind, name), []).append((doc, loc, message))

    def __bool__(self) -> bool:
        return bool(self.uses)

    def problems(self) -> list[Problem]:
        out = []
        for uses in self.uses.values():
            doc, loc, message = uses[0]
            others = [d.line_of(other) for d, other, _message in uses[1:]]
            if others:
                message = _(
                    "{message} (also used at {places})", message=message, places=first_few(others)
                )
            out.append(doc.problem(loc, message))
        return out


_PLAIN_KEY = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+")


def dotted(loc: Sequence[str | int]) -> str:
    """``("rules", 0, "levels")`` -> ``rules[0].levels``; a key with spaces or control
    characters is quoted, so the path stays on its line."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _PLAIN_KEY.fullmatch(str(part)) else repr(str(part))
            out += f".{key}" if out else key
    return out


def shown(path: str | os.PathLike[str]) -> str:
    """A path as the user gave it, normalised for messages: ``./config/../config/x.yaml`` ->
    ``config/x.yaml``; an absolute path stays absolute."""
    text = os.fspath(path)
    return os.path.normpath(text) if text else text


def load(
    path: str | Path, *, env: Mapping[str, str] | None = None, limits: Limits = FILES
) -> Document:
    """Parse one YAML file; raise ConfigError with the place of any syntax or structure error.

    Only a regular file within `limits` is read: a directory, a FIFO or a device
    (``/dev/zero``) is refused at once, never waited on or read for ever.
    """
    name = shown(path)
    text = read_text(path, name, limits.bytes)
    return loads(text, name, env=os.environ if env is None else env, limits=limits)


def read_text(path: str | Path, name: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a config or roster file; ConfigError (one problem) if it cannot be."""

    def refuse(message: Text, line: int = 1, column: int = 1) -> ConfigError:
        return ConfigError([Problem(name, line, column, "", message)])

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO must not wait for a writer
    except FileNotFoundError:
        raise refuse(_("file not found")) from None
    except IsADirectoryError:
        raise refuse(_("is a directory, not a file: name the YAML file in it")) from None
    except PermissionError:
        raise refuse(_("cannot be read: permission denied")) from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            message = _("cannot be read: file not found (a part of the path is not a directory)")
            raise refuse(message) from None
        reason = (exc.strerror or str(exc)).lower()  # the system's words: English
        raise refuse(_("cannot be read: {reason}", reason=reason)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise refuse(_("is a directory, not a file: name the YAML file in it"))
        if stat.S_ISFIFO(info.st_mode):
            raise refuse(_("is a FIFO (named pipe), not a regular file: name the YAML file itself"))
        if not stat.S_ISREG(info.st_mode):
            raise refuse(_("is a device or socket, not a regular file: name the YAML file itself"))
        if info.st_size > max_bytes:
            raise refuse(_too_large(info.st_size, max_bytes))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise refuse(_("cannot be read: {reason}", reason=reason)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew since fstat
        raise refuse(_too_large(len(data), max_bytes))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        message = _(
            "not UTF-8 text: byte {byte} here cannot be read ({reason}); save the file as UTF-8",
            byte="0x" + format(byte, "02x"),
            reason=exc.reason,
        )
        raise refuse(message, line, column) from None


def _too_large(size: int, limit: int) -> Text:
    return _(
        "the file is {size} bytes, larger than the limit of {limit} bytes ({kib} KiB) for a "
        "config or roster file: is it the right file? (a large roster can be split into "
        "several files)",
        size=format(size, ","),
        limit=format(limit, ","),
        kib=limit // 1024,
    )


class _Refused(Exception):
    """The composer stopped: the document is nested too deeply, holds too many values, or its
    aliases expand too far."""

    def __init__(self, mark: yaml.Mark | None, message: Text) -> None:
        super().__init__(str(message))
        self.mark = mark
        self.message = message


class _Limited(yaml.composer.Composer):
    """A composer that counts nesting depth, values and alias expansion as it goes.

    PyYAML composes an alias as a second reference to its anchor's node, so the node graph
    stays small; it is turning that graph into data that copies it for every reference. Each
    node's size (values in it once aliases are copied) is known when it is composed, so the
    sum of the sizes of the nodes that aliases refer to is what building would copy.
    """

    def _limits(self, max_values: int) -> None:
        self.max_values = max_values
        self.depth = 0
        self.composed = 0  # nodes composed (tests check that a refused bomb composed few)
        self.alias_values = 0
        self._sizes: dict[int, int] = {}

    def _next_mark(self) -> yaml.Mark | None:
        event: yaml.Event = self.peek_event()  # type: ignore[attr-defined]
        mark: yaml.Mark | None = event.start_mark  # type: ignore[assignment]
        return mark

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            mark = self._next_mark()
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise _Refused(
                    mark,
                    _("an alias (*name) cannot stand inside the value its anchor (&name) names"),
                )
            self.alias_values += size
            if self.alias_values > MAX_ALIAS_VALUES:
                raise _Refused(
                    mark,
                    _(
                        "too many aliases expanded (limit {limit} values): each *name repeats "
                        "the whole value of its &name, and here they multiply; write the values "
                        "out instead",
                        limit=MAX_ALIAS_VALUES,
                    ),
                )
            return node
        if self.depth >= MAX_DEPTH:
            raise _Refused(
                self._next_mark(),
                _("lists and mappings nested too deeply (limit {limit} levels)", limit=MAX_DEPTH),
            )
        if self.composed >= self.max_values:
            raise _Refused(
                self._next_mark(),
                _(
                    "too many values (limit {limit}) for a config or roster file: is it the "
                    "right file? (a large roster can be split into several files)",
                    limit=self.max_values,
                ),
            )
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        self.composed += 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if node is not None:
            self._sizes[id(node)] = size
        return node


class _Loader(_Limited, yaml.SafeLoader):
    """PyYAML's own reader, scanner and parser, in Python: what its errors say is what the
    messages explain (`_syntax_problem`), so a file that fails is always read again here."""

    def __init__(self, text: str, max_values: int = MAX_VALUES) -> None:
        super().__init__(text)
        self._limits(max_values)


_Constructor = yaml.constructor.SafeConstructor  # what builds a file's scalars


def _fast_loader() -> type[Any] | None:
    """libyaml's scanner and parser (in C: five to ten times faster) under the same composer
    and limits, where PyYAML was built with libyaml (its wheels are)."""
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        return None

    class _FastLoader(_Limited, CParser,
                      yaml.constructor.SafeConstructor, yaml.resolver.Resolver):  # fmt: skip
        """The same nodes with the same marks as `_Loader`. Only used for a file that it reads
        without error: any error is told by reading the file again with `_Loader`."""

        def __init__(self, text: str, max_values: int = MAX_VALUES) -> None:
            CParser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._limits(max_values)

    return _FastLoader


_FastLoader = _fast_loader()


def _compose(text: str, max_values: int) -> tuple[Any, yaml.Node | None]:
    """The file's node tree, and the loader that composed it (it builds the scalars)."""
    if _FastLoader is not None:
        fast: Any = _FastLoader(text, max_values)
        try:
            return fast, fast.get_single_node()
        except _Refused:
            raise
        except Exception:  # noqa: BLE001, S110 - told again, in PyYAML's words, below
            pass
        finally:
            fast.dispose()
    loader = _Loader(text, max_values)
    try:
        return loader, loader.get_single_node()
    finally:
        loader.dispose()


def loads(text: str, name: str, *, env: Mapping[str, str], limits: Limits = FILES) -> Document:
    """Parse YAML text named `name` (used in messages)."""
    if len(text) > limits.bytes:
        too_large = _too_large(len(text.encode("utf-8")), limits.bytes)
        raise ConfigError([Problem(name, 1, 1, "", too_large)])
    try:
        loader, node = _compose(text, limits.values)
    except _Refused as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (1, 1)
        raise ConfigError([Problem(name, line, col, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, name)]) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError([_character_problem(exc, text, name)]) from None
    except yaml.YAMLError as exc:  # no other kind is raised by PyYAML's reader and parser
        message = _("YAML syntax error: {what}", what=str(exc))  # PyYAML's words: English
        raise ConfigError([Problem(name, 1, 1, "", message)]) from None
    doc = Document(name, None)
    problems: list[Problem] = []
    if node is None:
        raise ConfigError([Problem(name, 1, 1, "", _("the file is empty"))])
    doc.data = _build(loader, node, (), doc, problems, env)
    if problems:
        raise ConfigError(problems)
    return doc


def _build(
    loader: _Constructor, node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem],
    env: Mapping[str, str],
) -> Any:  # fmt: skip
    doc.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.CollectionNode) and node.tag not in (f"{_CORE}map", f"{_CORE}seq"):
        problems.append(doc.problem(loc, _unsupported_tag(node.tag)))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        repeated: list[tuple[Loc, int, tuple[int, int]]] = []  # key, line first given, place
        for key_node, value_node in node.value:
            if key_node.tag == f"{_CORE}merge":
                problems.append(doc.problem(loc, _("YAML merge keys (<<) are not supported")))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                message = (
                    _("a key must be a name or a number, found a list")
                    if isinstance(key_node, yaml.SequenceNode)
                    else _("a key must be a name or a number, found a mapping")
                )
                problems.append(Problem(doc.file, line, col, dotted(loc), message))
                continue
            key = _scalar(loader, key_node, loc, doc, problems)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*loc, key)
            key_mark = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                repeated.append((child, doc.marks[child][0], key_mark))
                doc.marks[child] = key_mark
                continue
            doc.marks[child] = key_mark
            out[key] = _build(loader, value_node, child, doc, problems, env)
            # a key's own mark is more useful than its value's for "unknown key" messages
            doc.marks[child] = key_mark
        if repeated:
            problems.append(_duplicates(doc, repeated, in_list=bool(loc) and type(loc[-1]) is int))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*loc, i), doc, problems, env) for i, item in enumerate(node.value)
        ]
    value = _scalar(loader, node, loc, doc, problems)
    if isinstance(value, str) and "${" in value:
        return _expand(value, loc, doc, problems, env)
    return value


def _duplicates(
    doc: Document, repeated: list[tuple[Loc, int, tuple[int, int]]], *, in_list: bool
) -> Problem:
    """Keys given twice in one mapping: one problem, since several usually have one cause (the
    '- ' that starts the next entry of a list deleted, two entries run together)."""
    child, first, (line, column) = repeated[0]
    keys = list(dict.fromkeys(dotted(loc[-1:]) for loc, _first, _mark in repeated))
    message: Text
    if len(keys) == 1 and len(repeated) > 1:
        message = _(
            "duplicate key (first given at line {line}; given {times} times)",
            line=first,
            times=len(repeated) + 1,
        )
    elif len(keys) == 1:
        message = _("duplicate key (first given at line {line})", line=first)
    else:
        firsts = [first for _loc, first, _mark in repeated]
        lines = first_few(list(dict.fromkeys(str(n) for n in firsts)), 5)
        message = _(
            "duplicate keys {keys} (first given at lines {lines})",
            keys=first_few(keys, 5),
            lines=lines,
        )
        if in_list and firsts == sorted(firsts):
            message = _(
                "duplicate keys {keys} (first given at lines {lines}): is the '- ' that starts "
                "the next entry missing?",
                keys=first_few(keys, 5),
                lines=lines,
            )
    return Problem(doc.file, line, column, dotted(child), message)


def _scalar(
    loader: _Constructor, node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem]
) -> Any:
    """Construct a scalar; an impossible value (a date like 2026-06-31, ``.nan``, a number of
    a thousand digits, an unknown ``!tag``) is a located problem."""
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    text = str(node.value)

    def problem(message: Text) -> str:
        problems.append(Problem(doc.file, line, col, dotted(loc), message))
        return text

    kind = _SCALAR_TAGS.get(node.tag)
    if kind is None:
        return problem(_unsupported_tag(node.tag))
    if kind in ("int", "float") and len(text) > MAX_NUMBER_CHARS:
        return problem(
            _(
                "expected a number of at most {most} characters, found {found}",
                most=MAX_NUMBER_CHARS,
                found=clip(text),
            )
        )
    try:
        value = loader.construct_object(node)
    except (ValueError, KeyError, AttributeError, TypeError, OverflowError, yaml.YAMLError) as exc:
        what = _WHAT.get(kind, _("value"))
        if isinstance(exc, ValueError):  # Python's words for what is wrong: English
            return problem(
                _("{found} is not a valid {what}: {reason}", found=clip(text), what=what,
                  reason=str(exc))
            )  # fmt: skip
        return problem(_("{found} is not a valid {what}", found=clip(text), what=what))
    if isinstance(value, float) and not math.isfinite(value):
        return problem(_("expected a finite number, found {found}", found=text))
    return value


def _unsupported_tag(tag: str) -> Text:
    shown_tag = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return _("YAML tags such as {tag} are not supported: write the value without it", tag=shown_tag)


def _expand(
    value: str, loc: Loc, doc: Document, problems: list[Problem], env: Mapping[str, str]
) -> str:
    missing = [m.group(1) for m in _ENV_REF.finditer(value) if m.group(1) not in env]
    if missing:
        names = ", ".join(missing)
        problems.append(doc.problem(loc, _("environment variable {names} is not set", names=names)))
        return value
    return EnvStr(_ENV_REF.sub(lambda m: env[m.group(1)], value))


# ---- YAML slips explained ------------------------------------------------------------------


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, name: str) -> Problem:
    """PyYAML's error, or for the common slips a plain explanation with the fix."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark else (0, 0)
    what: str | Text = exc.problem or _("invalid YAML")  # exc.problem: PyYAML's, English
    if exc.context:
        what = _("{context}: {problem}", context=exc.context, problem=what)
    explained = _explain(exc, text.splitlines())
    if explained is not None:
        (line, col), what = explained
    return Problem(name, line + 1, col + 1, "", _("YAML syntax error: {what}", what=what))


def _explain(exc: yaml.MarkedYAMLError, lines: list[str]) -> tuple[tuple[int, int], Text] | None:
    problem, context = exc.problem or "", exc.context or ""
    at, opened = exc.problem_mark, exc.context_mark
    if at is None:
        return None
    here = lines[at.line] if at.line < len(lines) else ""
    indent = here[: len(here) - len(here.lstrip(" \t"))]
    if "'\\t'" in problem or "\t" in indent:
        tab = here.find("\t") if "\t" in here else at.column
        if "\t" in indent:
            return (at.line, tab), _("tabs are not allowed for indentation in YAML: use spaces")
        return (at.line, tab), _("a tab cannot be used here in YAML: use spaces")
    if problem == "mapping values are not allowed here":
        fix = _quoted(here, at.column)
        if fix is not None:
            return (at.line, at.column), _quote_it(fix)
        above = _line_above(lines, at.line)
        if above is not None and _indent(above) < _indent(here):
            return (at.line, _indent(here)), _(
                "this line is indented more than the one above it, so it reads as part of "
                "that value: indent it like the key above"
            )
        return (at.line, at.column), _(
            "a ':' cannot stand here: quote the value if it contains ': ', "
            'e.g. name: "Station: north"'
        )
    flow = re.match(r"expected ',' or '([\]}])', but got (.*)$", problem)
    if flow and opened is not None:
        found = flow.group(2)
        if found == "':'" and at.line == opened.line:
            fix = _quoted_in_flow(here, at.column)
            if fix is not None:
                return (at.line, at.column), _quote_it(fix)
        shown_found: str | Text = _("the end of the file") if found == "'<stream end>'" else found
        place = (
            _("column {n}", n=at.column + 1)
            if at.line == opened.line
            else _("line {n}", n=at.line + 1)
        )
        not_closed = (
            _(
                "the list opened with '[' here is not closed: found {found} at {place} where "
                "',' or ']' was expected",
                found=shown_found,
                place=place,
            )
            if flow.group(1) == "]"
            else _(
                "the mapping opened with '{{' here is not closed: found {found} at {place} "
                "where ',' or '}}' was expected",
                found=shown_found,
                place=place,
            )
        )
        return (opened.line, opened.column), not_closed
    if context == "while scanning a quoted scalar" and opened is not None:
        quote = lines[opened.line][opened.column : opened.column + 1] if lines else '"'
        return (opened.line, opened.column), _(
            "the quote ({quote}) opened here is never closed: end the value with {quote}",
            quote=quote,
        )
    if context == "while scanning a simple key" and opened is not None:
        return (opened.line, opened.column), _(
            "expected 'key: value' here: is the ':' or the space after it missing?"
        )
    if problem.startswith("expected <block end>"):
        return (at.line, at.column), _(
            "this line is not indented like the lines above it: the keys of one mapping, "
            "and the items ('- ') of one list, must start in the same column"
        )
    if "expected a single document" in context:
        return (at.line, at.column), _(
            "a second YAML document ('---') in the file: a file holds one document"
        )
    return None


def _quote_it(fix: str) -> Text:
    return _("a ': ' inside a value must be quoted, e.g. {fix}", fix=fix)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _line_above(lines: list[str], index: int) -> str | None:
    for line in reversed(lines[:index]):
        if line.strip() and not line.lstrip().startswith("#"):
            return line
    return None


def _quoted(line: str, column: int) -> str | None:
    """``    - name: Station: north`` (error at the second ':') -> ``name: "Station: north"``."""
    body = line.lstrip(" ")
    while body.startswith("- "):
        body = body[2:].lstrip(" ")
    start = len(line) - len(body)
    first = body.find(": ")
    if first < 0 or start + first >= column:
        return None
    key, value = body[:first], _uncommented(body[first + 2 :]).strip()
    return f"{key}: {_quote(value)}"


def _quoted_in_flow(line: str, column: int) -> str | None:
    """``{id: a, name: Station: north}`` (error at the second ':') -> ``name: "Station: north"``."""
    start = max(line.rfind(c, 0, column) for c in ",{[") + 1
    ends = [i for c in ",}]" if (i := line.find(c, column)) >= 0]
    part = line[start : min(ends) if ends else len(line)].strip()
    first = part.find(": ")
    if first < 0:
        return None
    return f"{part[:first]}: {_quote(part[first + 2 :].strip())}"


def _quote(value: str) -> str:
    return f"'{value}'" if '"' in value else f'"{value}"'


def _uncommented(value: str) -> str:
    cut = value.find(" #")
    return value if cut < 0 else value[:cut]


def _character_problem(exc: yaml.reader.ReaderError, text: str, name: str) -> Problem:
    line = text.count("\n", 0, exc.position) + 1
    col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    code = f"U+{ord(char):04X}"
    label: str | Text = unicodedata.name(char, "") or _("a control character")
    if char == "\x00":
        message = _(
            "YAML syntax error: the character {code} ({label}) is not allowed in YAML text: "
            "remove it (a file saved as UTF-16 is full of them: save it as UTF-8)",
            code=code,
            label=label,
        )
    else:
        message = _(
            "YAML syntax error: the character {code} ({label}) is not allowed in YAML text: "
            "remove it",
            code=code,
            label=label,
        )
    return Problem(name, line, col, "", message)


def misplaced(count: int, what: Text, own: Text, heading: str) -> Text:
    """Entries in a list under the wrong heading (`count` of them in a row): their keys are
    those of `what` ("a person"), not of `own`; the line `heading:` above them was lost."""
    if count == 1:
        return _(
            "this entry has the keys of {what}, not of {own}: is the line '{heading}:' above it "
            "missing?",
            what=what,
            own=own,
            heading=heading,
        )
    return _(
        "this entry and the {n} after it have the keys of {what}, not of {own}: is the line "
        "'{heading}:' above it missing?",
        n=count - 1,
        what=what,
        own=own,
        heading=heading,
    )


def both(names: Sequence[str]) -> str | Text:
    """``a and b`` (``a and b and c``): names written in the file, joined in the reader's
    language."""
    joined: str | Text = names[0] if names else ""
    for name in names[1:]:
        joined = _("{first} and {second}", first=joined, second=name)
    return joined


# ---- validation into models ----------------------------------------------------------------


def validate(
    model: type[M], doc: Document, loc: Loc = (), data: Any = None, *,
    also_allowed: Collection[str] = (), custom_errors: Mapping[str, Text] | None = None,
) -> M:  # fmt: skip
    """Validate `doc` (or `data` found at `loc` in it) into `model`; ConfigError names places.

    `also_allowed` names keys that may stand beside the model's own at `loc` (a plugin's options
    beside ``name`` and ``type``), for "did you mean" suggestions. `custom_errors` gives the
    catalogue's message of the model's pydantic custom error types (a Discriminator's).
    """
    try:
        result = model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        raise ConfigError(
            problems_from(exc, doc, loc, model, also_allowed, custom_errors=custom_errors)
        ) from None
    problems = [
        doc.problem(
            _in_file(doc.data, (*loc, *where)),
            _("expected a finite number, found {found}", found=str(value)),
        )
        for where, value in _non_finite(result)
    ]
    if problems:
        raise ConfigError(problems)
    return result


def problems_from(
    exc: ValidationError, doc: Document, base: Loc = (), model: Any = None,
    also_allowed: Collection[str] = (), *, custom_errors: Mapping[str, Text] | None = None,
) -> list[Problem]:  # fmt: skip
    """Turn pydantic's errors into located problems with messages an administrator can act on.

    A misspelt key is one mistake: it is reported as an unknown key with "did you mean", and
    the "required key is missing" that follows from it is left out.
    """
    located: list[tuple[Loc, Mapping[str, Any]]] = []
    for detail in exc.errors(include_url=False):
        cause = detail.get("ctx", {}).get("error")
        at = cause.loc if isinstance(cause, AtKey) else ()
        located.append((_in_file(doc.data, (*base, *detail["loc"], *at)), detail))
    missing = {loc for loc, err in located if err["type"] == "missing"}
    covered: set[Loc] = set()
    messages: dict[int, Text] = {}
    for i, (loc, err) in enumerate(located):
        if err["type"] != "extra_forbidden":
            continue
        allowed = set(also_allowed) | set(_keys_at(model, tuple(err["loc"][:-1])) or ())
        close = close_matches(loc[-1], allowed)
        if close:
            messages[i] = _("unknown key{hint}", hint=did_you_mean(loc[-1], close))
            covered.update((*loc[:-1], key) for key in close if (*loc[:-1], key) in missing)
        elif allowed:
            messages[i] = _("unknown key (allowed here: {keys})", keys=", ".join(sorted(allowed)))
    problems = []
    for i, (loc, err) in enumerate(located):
        if err["type"] == "missing" and loc in covered:
            continue
        message = messages.get(i) or _message(err, custom_errors or {})
        problems.append(doc.problem(loc, message))
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


def _keys_at(tp: Any, loc: Loc) -> list[str] | None:
    """The keys a model allows at `loc` (a pydantic location inside it), if it can be told."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _keys_at(get_args(tp)[0], loc)
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        if loc and isinstance(loc[0], str):
            for member in members:
                if loc[0] in (_tag(member), getattr(member, "__name__", None)):
                    return _keys_at(member, loc[1:])
        found = [keys for m in members if (keys := _keys_at(m, loc)) is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = {(f.alias or name): f for name, f in tp.model_fields.items()}
        if not loc:
            return list(fields)
        part = loc[0]
        for name, f in tp.model_fields.items():
            if part in (name, f.alias):
                return _keys_at(f.annotation, loc[1:])
        return None
    if not loc:
        return None
    args = get_args(tp)
    if origin in (list, tuple, set, frozenset) and args and isinstance(loc[0], int):
        return _keys_at(args[0], loc[1:])
    if origin is dict and len(args) == 2:
        return _keys_at(args[1], loc[1:])
    return None


def _tag(tp: Any) -> str | None:
    if get_origin(tp) is Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _non_finite(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, float]]:
    """Every NaN or infinity in a validated model (a plugin's option written ``nan``), with its
    place. Models of floodwatch refuse them themselves; this is the net for every other."""
    if isinstance(value, float):
        if not math.isfinite(value):
            yield loc, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            yield from _non_finite(getattr(value, name), (*loc, key))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _non_finite(item, (*loc, i))


_SHOW_FOUND = (
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error",
    "string_pattern_mismatch", "string_too_long", "enum", "multiple_of",
)  # fmt: skip

# pydantic's own messages, in the catalogue: each is used only when its English is word for
# word the message pydantic gave (see _pydantic_text), so the English never changes
_PYDANTIC: dict[str, Callable[[Mapping[str, Any]], Text]] = {
    "model_type": lambda c: _(
        "Input should be a valid dictionary or instance of {class_name}",
        class_name=c.get("class_name"),
    ),
    "model_attributes_type": lambda c: _(
        "Input should be a valid dictionary or object to extract fields from"
    ),
    "greater_than": lambda c: _("Input should be greater than {gt}", gt=c.get("gt")),
    "greater_than_equal": lambda c: _(
        "Input should be greater than or equal to {ge}", ge=c.get("ge")
    ),
    "less_than": lambda c: _("Input should be less than {lt}", lt=c.get("lt")),
    "less_than_equal": lambda c: _("Input should be less than or equal to {le}", le=c.get("le")),
    "multiple_of": lambda c: _(
        "Input should be a multiple of {multiple_of}", multiple_of=c.get("multiple_of")
    ),
    "string_type": lambda c: _("Input should be a valid string"),
    "string_too_long": lambda c: _(
        "String should have at most {max_length} characters", max_length=c.get("max_length")
    ),
    "string_pattern_mismatch": lambda c: _(
        "String should match pattern '{pattern}'", pattern=c.get("pattern")
    ),
    "dict_type": lambda c: _("Input should be a valid dictionary"),
    "list_type": lambda c: _("Input should be a valid list"),
    "tuple_type": lambda c: _("Input should be a valid tuple"),
    "set_type": lambda c: _("Input should be a valid set"),
    "bool_type": lambda c: _("Input should be a valid boolean"),
    "bool_parsing": lambda c: _("Input should be a valid boolean, unable to interpret input"),
    "int_type": lambda c: _("Input should be a valid integer"),
    "int_parsing": lambda c: _(
        "Input should be a valid integer, unable to parse string as an integer"
    ),
    "int_from_float": lambda c: _(
        "Input should be a valid integer, got a number with a fractional part"
    ),
    "float_type": lambda c: _("Input should be a valid number"),
    "float_parsing": lambda c: _(
        "Input should be a valid number, unable to parse string as a number"
    ),
    "literal_error": lambda c: _("Input should be {expected}", expected=c.get("expected")),
    "date_type": lambda c: _("Input should be a valid date"),
    "date_parsing": lambda c: _(
        "Input should be a valid date in the format YYYY-MM-DD, {error}", error=c.get("error")
    ),
    "date_from_datetime_parsing": lambda c: _(
        "Input should be a valid date or datetime, {error}", error=c.get("error")
    ),
    "date_from_datetime_inexact": lambda c: _(
        "Datetimes provided to dates should have zero time - e.g. be exact dates"
    ),
    "time_type": lambda c: _("Input should be a valid time"),
    "time_parsing": lambda c: _(
        "Input should be in a valid time format, {error}", error=c.get("error")
    ),
    "datetime_type": lambda c: _("Input should be a valid datetime"),
    "datetime_parsing": lambda c: _(
        "Input should be a valid datetime, {error}", error=c.get("error")
    ),
    "datetime_from_date_parsing": lambda c: _(
        "Input should be a valid datetime or date, {error}", error=c.get("error")
    ),
    "timezone_naive": lambda c: _("Input should not have timezone info"),
    "timezone_aware": lambda c: _("Input should have timezone info"),
}


def _pydantic_text(
    kind: str, ctx: Mapping[str, Any], english: str, custom_errors: Mapping[str, Text]
) -> str | Text:
    """pydantic's message `english` in the catalogue when it has it (the values pydantic put
    in it, such as a date parser's reason, stay as pydantic wrote them); else `english`."""
    if kind in custom_errors:
        text = custom_errors[kind]
    elif kind in _PYDANTIC:
        text = _PYDANTIC[kind](ctx)
    else:
        return english
    return text if str(text) == english else english


def _message(err: Mapping[str, Any], custom_errors: Mapping[str, Text]) -> str | Text:
    kind = err["type"]
    found = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return _("unknown key (check the spelling; see the README for the keys allowed here)")
    if kind == "missing":
        return _("required key is missing")
    if kind == "finite_number":
        return _("expected a finite number, found {found}", found=str(found))
    if kind == "too_short" and isinstance(found, list | dict) and not found:
        least = ctx.get("min_length", 1)
        if isinstance(found, dict):
            if least == 1:
                return _("expected at least one item, found an empty mapping")
            return _("expected at least {n} items, found an empty mapping", n=least)
        if least == 1:
            return _("expected at least one item, found an empty list")
        return _("expected at least {n} items, found an empty list", n=least)
    if kind == "string_too_short":
        return _("expected a non-empty text, found {found}", found=_show(found))
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    cause = ctx.get("error")
    text = getattr(cause, "text", None)  # Invalid, or another error carrying the catalogue's
    message = text if isinstance(text, Text) else _pydantic_text(kind, ctx, msg, custom_errors)
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in _SHOW_FOUND:
        return _("{message}, found {found}", message=message, found=_show(found))
    return message


def clip(text: str, most: int = 40) -> str | Text:
    """`text` quoted for a message, shortened when long (a message stays one readable line)."""
    shown_text = repr(text)
    if len(shown_text) <= most:
        return shown_text
    return _("{start}... ({n} characters)", start=shown_text[: most - 10], n=len(text))


def _show(value: Any) -> str | Text:
    if isinstance(value, dict):
        return _("a mapping")
    if isinstance(value, list):
        return _("a list")
    if value is None:
        return _("nothing (null)")
    if isinstance(value, str):
        return clip(value)
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}..."
