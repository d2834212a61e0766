"""A small SOQL parser: SELECT fields FROM object [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n].

Parsing is pure; evaluation against typed rows lives in ``sfsim.objects``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any


class SoqlError(Exception):
    """A query the simulator rejects; ``code`` is the Salesforce errorCode."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | date | datetime | boolean | null
    value: Any


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # = != < <= > >= like
    value: Literal


@dataclass(frozen=True)
class InList:
    field: str
    values: tuple[Literal, ...]
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    expr: Any


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    count_only: bool = False


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "TRUE",
    "FALSE",
    "NULL",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and self.upper in words


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise SoqlError(f"Invalid string literal '{body}'. Illegal character sequence '\\{nxt}'")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match:
            raise SoqlError(_located(text, pos, f"unexpected token: '{text[pos : pos + 10].split()[0]}'"))
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def _located(text: str, pos: int, message: str) -> str:
    """Salesforce-style message: the query, a caret, the row/column and the reason."""
    line_start = text.rfind("\n", 0, pos) + 1
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    line = text.splitlines()[row - 1] if text else ""
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, message: str | None = None) -> SoqlError:
        tok = self.peek()
        if tok is None:
            return SoqlError(_located(self.text, len(self.text), message or "unexpected end of query"))
        return SoqlError(_located(self.text, tok.pos, message or f"unexpected token: '{tok.text}'"))

    def take(self) -> _Token:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        self.i += 1
        return tok

    def expect_kw(self, *words: str) -> _Token:
        tok = self.peek()
        if tok is None or not tok.is_kw(*words):
            raise self.fail()
        return self.take()

    def expect_punct(self, char: str) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "punct" or tok.text != char:
            raise self.fail()
        self.i += 1

    def accept_kw(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.is_kw(*words):
            self.i += 1
            return True
        return False

    def field_name(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind != "ident" or tok.upper in _KEYWORDS:
            raise self.fail()
        self.i += 1
        return tok.text

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        count_only, fields = self.select_list()
        self.expect_kw("FROM")
        tok = self.peek()
        if tok is None or tok.kind != "ident" or "." in tok.text or tok.upper in _KEYWORDS:
            raise self.fail()
        self.i += 1
        query = Query(fields=fields, sobject=tok.text, count_only=count_only)
        if self.accept_kw("WHERE"):
            query.where = self.or_expr()
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            query.order_by = self.order_list()
        if self.accept_kw("LIMIT"):
            query.limit = self.integer()
        if self.accept_kw("OFFSET"):
            query.offset = self.integer()
        if self.peek() is not None:
            raise self.fail()
        return query

    def select_list(self) -> tuple[bool, list[str]]:
        tok = self.peek()
        if tok is not None and tok.is_kw("COUNT"):
            nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
            if nxt is not None and nxt.text == "(":
                self.i += 2
                self.expect_punct(")")
                return True, []
        fields = [self.field_name()]
        while (tok := self.peek()) is not None and tok.text == ",":
            self.i += 1
            fields.append(self.field_name())
        return False, fields

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            self.i -= 1
            raise self.fail()
        return int(tok.text)

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            name = self.field_name()
            descending = False
            if self.accept_kw("DESC"):
                descending = True
            else:
                self.accept_kw("ASC")
            nulls_last = descending
            if self.accept_kw("NULLS"):
                nulls_last = self.expect_kw("FIRST", "LAST").upper == "LAST"
            items.append(OrderItem(name, descending, nulls_last))
            tok = self.peek()
            if tok is None or tok.text != ",":
                return items
            self.i += 1

    def or_expr(self) -> Any:
        left = self.and_expr()
        while self.accept_kw("OR"):
            left = BoolOp("or", left, self.and_expr())
        return left

    def and_expr(self) -> Any:
        left = self.not_expr()
        while self.accept_kw("AND"):
            left = BoolOp("and", left, self.not_expr())
        return left

    def not_expr(self) -> Any:
        if self.accept_kw("NOT"):
            return Not(self.not_expr())
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.i += 1
            expr = self.or_expr()
            self.expect_punct(")")
            return expr
        return self.condition()

    def condition(self) -> Any:
        name = self.field_name()
        tok = self.peek()
        if tok is None:
            raise self.fail()
        if tok.kind == "op":
            self.i += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(name, op, self.literal())
        if tok.is_kw("LIKE"):
            self.i += 1
            value = self.literal()
            if value.kind != "string":
                raise self.fail("LIKE needs a string literal")
            return Compare(name, "like", value)
        negate = self.accept_kw("NOT")
        self.expect_kw("IN")
        self.expect_punct("(")
        values = [self.literal()]
        while (nxt := self.peek()) is not None and nxt.text == ",":
            self.i += 1
            values.append(self.literal())
        self.expect_punct(")")
        return InList(name, tuple(values), negate)

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            return Literal("string", _unescape(tok.text[1:-1]))
        if tok.kind == "number":
            return Literal("number", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "date":
            return Literal("date", _parse_date(tok.text))
        if tok.kind == "datetime":
            return Literal("datetime", parse_datetime(tok.text))
        if tok.is_kw("TRUE", "FALSE"):
            return Literal("boolean", tok.upper == "TRUE")
        if tok.is_kw("NULL"):
            return Literal("null", None)
        self.i -= 1
        raise self.fail()


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise SoqlError(f"invalid date: {text}") from exc


def parse_datetime(text: str) -> datetime:
    """Parse SOQL/REST datetimes: 2026-01-02T03:04:05Z, ...05.000+0000, ...05+00:00."""
    norm = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", norm):
        norm = norm[:-2] + ":" + norm[-2:]
    try:
        parsed = datetime.fromisoformat(norm)
    except ValueError as exc:
        raise SoqlError(f"invalid datetime: {text}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse(text: str) -> Query:
    """Parse a SOQL string; raises SoqlError (MALFORMED_QUERY) when it is not understood."""
    if not text or not text.strip():
        raise SoqlError("SOQL statement cannot be empty")
    return _Parser(text).parse()
