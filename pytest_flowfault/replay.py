"""Fault plans back from their text, by parsing the plan grammar: nothing in the text runs.

``--flowfault-replay`` takes a plan as its ``repr`` prints it, on the command line or in a
counterexamples file. The text is read with :func:`ast.parse` and walked node by node:
there is no ``eval``, no attribute access on arbitrary objects, and no call but Fault's
constructors, ``FaultPlan``, ``float`` of a string, sets and exception classes. Grammar::

    plan      := FaultPlan(fault, ...) | fault
    fault     := Fault.KIND(target, value, ..., name=value, ...)   (KIND: a constructor of Fault)
    target    := str | ATOM     (ATOM: a TaskFlow atom class, package.module.Class)
    value     := str | bytes | int | float | complex | True | False | None | -number
               | inf | nan | -inf | float('inf') | float('-inf') | float('nan')
               | (value, ...) | [value, ...] | {value: value, ...} | {value, ...}
               | set() | frozenset() | frozenset({value, ...})
               | mock.DEFAULT | unittest.mock.DEFAULT | DEFAULT
               | EXCEPTION | EXCEPTION(value, ..., name=value, ...)
    EXCEPTION := a builtin exception (RuntimeError) | InjectedFault | package.module.Class

A dotted name is looked up one component at a time in ``__dict__`` (so no
``__getattr__``, property or descriptor runs), importing a module only when it is not
imported yet, and it is accepted only if it ends at an exception class (or, as a fault's
target, at an atom class).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import tokenize
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, get_args

from pytest_flowfault.errors import InjectedFault, InvalidFaultPlan
from pytest_flowfault.plan import Fault, FaultKind, FaultPlan
from pytest_flowfault.resolve import (
    Refused,
    atom_class_at,
    exception_class_at,
    is_exception_class,
)

#: Fault's constructors: one classmethod per fault kind, as plan.py defines them.
CONSTRUCTORS: tuple[str, ...] = tuple(
    kind for kind in get_args(FaultKind) if isinstance(vars(Fault).get(kind), classmethod)
)
#: Longer text, or deeper nesting, is refused before it is parsed (a parser needs stack).
MAX_LENGTH = 100_000
MAX_DEPTH = 50
_LONGEST_NUMBER = 400  # far below int()'s 4300-digit limit, whose error has no column

GRAMMAR = "FaultPlan(...) or Fault.<kind>(...)"
HOW_TO_FIX = "paste the plan printed on a failing test's reproduce: line"
_NOT_IN_GRAMMAR = "is not part of that grammar"
# Every token a plan's repr can contain; anything else is refused before parsing.
_OPERATORS = frozenset({"(", ")", "[", "]", "{", "}", ",", ":", "=", ".", "-"})
_NESTING = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
_TOKENS = frozenset(
    {tokenize.OP, tokenize.NAME, tokenize.NUMBER, tokenize.STRING, tokenize.NEWLINE,
     tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)  # Python 3.12+
_CONSTANTS = (str, bytes, int, float, complex, bool, type(None))
_NON_FINITE = {"inf": float("inf"), "nan": float("nan")}
_PLAN_NAMES = frozenset({"Fault", "FaultPlan", "InjectedFault", "DEFAULT", *_NON_FINITE})
_MISSING = object()


def parse_plan(
    text: str, *, origin: str, importable_from: Sequence[Path] = ()
) -> FaultPlan:
    """The :class:`FaultPlan` that ``text`` (a plan's, or one fault's, ``repr``) describes.

    ``origin`` says where the text came from, for the error message: an
    :class:`InvalidFaultPlan` naming the offending piece, its column and how to fix it.
    An exception class is taken from a module already imported, or from one found in a
    folder of ``importable_from`` (the project's own code), which is imported for it:
    importing runs a module's code, so text from elsewhere may not pick which.

    >>> parse_plan("FaultPlan(Fault.fail('attach', times=2))", origin="example")
    FaultPlan(Fault.fail('attach', times=2))
    """
    return _Reader(text.strip(), origin, tuple(importable_from)).plan()


def _mock_default() -> object:
    import unittest.mock  # only when a plan says mock.DEFAULT: it takes a while to import

    return unittest.mock.DEFAULT


def _short(piece: str) -> str:
    return piece if len(piece) <= 60 else piece[:57] + "..."


class _Reader:
    """One text being read; every refusal says what, where and how to fix it."""

    def __init__(self, text: str, origin: str, importable_from: tuple[Path, ...]) -> None:
        self.text = text
        self.origin = origin
        self.importable_from = tuple(root.resolve() for root in importable_from)
        self.lines = text.split("\n")

    def plan(self) -> FaultPlan:
        if len(self.text) > MAX_LENGTH:
            size = f"{len(self.text)} characters long, more than any fault plan ({MAX_LENGTH})"
            self.fail(f"the text is {size}; {HOW_TO_FIX}")
        self.scan()
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as error:
            where = self.where(error.lineno or 1, (error.offset or 1) - 1)
            self.fail(f"this is not a fault plan: {error.msg} at {where}; {HOW_TO_FIX}")
        except (ValueError, RecursionError, MemoryError) as error:
            self.fail(f"this is not a fault plan ({type(error).__name__}: {error}); {HOW_TO_FIX}")
        body = tree.body
        if isinstance(body, ast.Call) and self.is_name(body.func, "FaultPlan"):
            for keyword_node in body.keywords:
                self.reject(keyword_node, "is not a fault: FaultPlan takes faults only")
            return FaultPlan(*(self.fault(argument) for argument in body.args))
        if isinstance(body, ast.Call) and isinstance(body.func, ast.Attribute) and (
            self.is_name(body.func.value, "Fault")
        ):
            return FaultPlan(self.fault(body))
        self.reject(body.func if isinstance(body, ast.Call) else body)

    def scan(self) -> None:
        """Refuse tokens outside the grammar, and nesting that would strain the parser: this
        bounds how deep ast.parse and the walk below recurse."""
        depth = chain = 0
        previous = ""
        for token in self.tokens():
            kind, string = token.type, token.string
            if kind == tokenize.OP and string not in _OPERATORS:
                self.reject_token(token)
            if keyword.iskeyword(string) and string not in ("True", "False", "None"):
                self.reject_token(token)
            prefix = string.partition(string[-1])[0] if kind == tokenize.STRING else ""
            if kind == _FSTRING_START or "f" in prefix.lower():
                # Named by its opening, which Python 3.12 tokenizes apart from the rest.
                opening = string if kind == _FSTRING_START else string[: len(prefix) + 1]
                self.refuse(opening, self.where(*token.start), "is an f-string, which runs code")
            if kind not in _TOKENS:
                self.reject_token(token)
            if kind == tokenize.NUMBER and len(string) > _LONGEST_NUMBER:
                self.reject_token(token, "is a number longer than any fault plan holds")
            if string == "-" and previous == "-":
                self.reject_token(token)
            depth += _NESTING.get(string, 0) if kind == tokenize.OP else 0
            chain = chain + 1 if string == "." else 0 if kind != tokenize.NAME else chain
            if depth > MAX_DEPTH or chain > MAX_DEPTH:
                self.fail(
                    f"the plan is nested more than {MAX_DEPTH} levels deep at "
                    f"{self.where(*token.start)}, deeper than any fault plan; {HOW_TO_FIX}"
                )
            previous = string

    def tokens(self) -> Iterator[tokenize.TokenInfo]:
        """The text's tokens, up to the first one Python cannot read (ast.parse says why)."""
        try:
            for token in tokenize.generate_tokens(io.StringIO(self.text).readline):
                if token.type == tokenize.ERRORTOKEN:
                    return
                yield token
        except (tokenize.TokenError, SyntaxError, ValueError):
            return

    def fault(self, node: ast.expr) -> Fault:
        if not (isinstance(node, ast.Call) and self.is_fault_constructor(node.func)):
            target = node.func if isinstance(node, ast.Call) else node
            if isinstance(target, ast.Attribute) and self.is_name(target.value, "Fault"):
                self.reject(
                    target,
                    f"is not a constructor of Fault (those are "
                    f"{', '.join(f'Fault.{kind}' for kind in CONSTRUCTORS)})",
                )
            self.reject(target, "is not a fault: FaultPlan takes Fault.<kind>(...) values")
        assert isinstance(node.func, ast.Attribute)
        constructor = getattr(Fault, node.func.attr)  # one of CONSTRUCTORS
        args, kwargs = self.arguments(node, target_keyword="target")
        try:
            fault: Fault = constructor(*args, **kwargs)
        except (InvalidFaultPlan, TypeError) as problem:
            self.invalid(node, str(problem))
        return fault

    def arguments(
        self, call: ast.Call, target_keyword: str | None = None
    ) -> tuple[list[object], dict[str, object]]:
        """The call's arguments; with ``target_keyword``, the first one (or that keyword)
        is read as a fault's target."""
        args = []
        for position, argument in enumerate(call.args):
            if isinstance(argument, ast.Starred):
                self.reject(argument)
            is_target = target_keyword is not None and position == 0
            args.append(self.target(argument) if is_target else self.value(argument))
        kwargs = {}
        for keyword_node in call.keywords:
            if keyword_node.arg is None:  # **mapping
                self.reject(keyword_node)
            is_target = target_keyword is not None and keyword_node.arg == target_keyword
            read = self.target if is_target else self.value
            kwargs[keyword_node.arg] = read(keyword_node.value)
        return args, kwargs

    def target(self, node: ast.expr) -> object:
        """A fault's target: a value (an atom name), or an atom class by its dotted name."""
        if isinstance(node, ast.Name) and node.id not in _PLAN_NAMES:
            if node.id[:1].isupper():
                self.reject(
                    node,
                    f"is not a fault target; write an atom class by its dotted name, e.g. "
                    f"package.module.{node.id}, or an atom's name as a string",
                )
            self.reject(node)
        parts = self.dotted(node) if isinstance(node, ast.Attribute) else None
        if parts is None:
            return self.value(node)
        if parts[0] in _PLAN_NAMES or any(part.startswith("__") for part in parts):
            self.reject(node)
        try:
            return atom_class_at(parts, self.importable_from)
        except Refused as refusal:
            self.reject(node, str(refusal))

    def value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant) and type(node.value) in _CONSTANTS:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            number = self.value(node.operand) if self.is_number(node.operand) else None
            if number is None:
                self.reject(node)
            return -number  # type: ignore[operator]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [self.value(item) for item in node.elts]
            if isinstance(node, ast.Tuple):
                return tuple(items)
            return items if isinstance(node, ast.List) else self.built(node, set, items)
        if isinstance(node, ast.Dict):
            pairs = []
            for key, item in zip(node.keys, node.values):
                if key is None:  # {**mapping}
                    self.reject(item)
                pairs.append((self.value(key), self.value(item)))
            return self.built(node, dict, pairs)
        if isinstance(node, ast.Name):
            if node.id in _NON_FINITE:
                return _NON_FINITE[node.id]
            if node.id == "DEFAULT":
                return _mock_default()
            return self.exception_class(node)
        if isinstance(node, ast.Attribute):
            if self.dotted(node) in (["mock", "DEFAULT"], ["unittest", "mock", "DEFAULT"]):
                return _mock_default()
            return self.exception_class(node)
        if isinstance(node, ast.Call):
            if self.is_name(node.func, "float"):
                return self.float_of(node)
            if self.is_name(node.func, "set") or self.is_name(node.func, "frozenset"):
                return self.set_of(node)
            cls = self.exception_class(node.func)
            args, kwargs = self.arguments(node)
            try:
                return cls(*args, **kwargs)
            except Exception as problem:
                self.invalid(node, f"{type(problem).__name__}: {problem}")
        self.reject(node)

    def float_of(self, call: ast.Call) -> float:
        """``float('inf')``, as plan.py's repr writes non-finite numbers."""
        argument = call.args[0] if len(call.args) == 1 and not call.keywords else None
        if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
            self.reject(call, "is not float('inf'), float('-inf') or float('nan')")
        try:
            return float(argument.value)
        except ValueError as problem:
            self.invalid(call, str(problem))

    def set_of(self, call: ast.Call) -> object:
        """``set()``, ``frozenset()`` and ``frozenset({...})``, as repr writes those sets."""
        assert isinstance(call.func, ast.Name)
        kind = frozenset if call.func.id == "frozenset" else set
        if call.keywords or len(call.args) > (kind is frozenset):
            self.reject(call, "is not set(), frozenset() or frozenset({...})")
        items = self.value(call.args[0]) if call.args else set()
        if not isinstance(items, set):
            self.reject(call.args[0], "is not a set literal, {...}")
        return kind(items)

    def exception_class(self, node: ast.expr) -> type[BaseException]:
        """The exception class a name or dotted name stands for, or a refusal."""
        if isinstance(node, ast.Name):
            if node.id == "InjectedFault":
                return InjectedFault
            found = vars(builtins).get(node.id, _MISSING)
            if is_exception_class(found):
                return found
            if found is not _MISSING:
                self.reject(node, "is not an exception class")
            if node.id[:1].isupper():
                self.reject(
                    node,
                    f"is not a builtin exception; write an exception class by its dotted "
                    f"name, e.g. package.module.{node.id}",
                )
            self.reject(node)
        parts = self.dotted(node)
        if parts is None or parts[0] in _PLAN_NAMES or any(p.startswith("__") for p in parts):
            self.reject(node)
        try:
            return exception_class_at(parts, self.importable_from)
        except Refused as refusal:
            self.reject(node, str(refusal))

    @staticmethod
    def is_name(node: ast.expr, name: str) -> bool:
        return isinstance(node, ast.Name) and node.id == name

    def is_fault_constructor(self, node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and self.is_name(node.value, "Fault")
            and node.attr in CONSTRUCTORS
        )

    def is_number(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Constant):
            return type(node.value) in (int, float, complex)
        return isinstance(node, ast.Name) and node.id in _NON_FINITE

    def dotted(self, node: ast.expr) -> list[str] | None:
        """``a.b.C`` as ``['a', 'b', 'C']``; None unless it is names joined by dots."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        return [node.id, *reversed(parts)]

    def built(self, node: ast.expr, kind: type, items: Sequence[object]) -> object:
        try:
            return kind(items)
        except TypeError as problem:
            self.invalid(node, str(problem))

    def where(self, line: int, column: int) -> str:  # column 0 is "column 1" to users
        return (f"line {line}, " if len(self.lines) > 1 else "") + f"column {column + 1}"

    def node_where(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 1)
        # ast columns count UTF-8 bytes; users count characters.
        head = self.lines[line - 1].encode()[: getattr(node, "col_offset", 0)]
        return self.where(line, len(head.decode(errors="ignore")))

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def reject(self, node: ast.AST, why: str = _NOT_IN_GRAMMAR) -> NoReturn:
        self.refuse(self.piece(node), self.node_where(node), why)

    def reject_token(self, token: tokenize.TokenInfo, why: str = _NOT_IN_GRAMMAR) -> NoReturn:
        self.refuse(token.string, self.where(*token.start), why)

    def refuse(self, piece: str, where: str, why: str) -> NoReturn:
        self.fail(
            f"only a fault plan is accepted here ({GRAMMAR}), and {_short(piece)!r} at {where} "
            f"{why}; {HOW_TO_FIX}"
        )

    def invalid(self, node: ast.AST, problem: str) -> NoReturn:
        self.fail(
            f"{_short(self.piece(node))!r} at {self.node_where(node)} is not a valid fault plan: "
            f"{problem}; correct it, or {HOW_TO_FIX}"
        )

    def fail(self, message: str) -> NoReturn:
        raise InvalidFaultPlan(f"{self.origin}: {message}")
