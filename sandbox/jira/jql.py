"""A small JQL parser for the Jira sandbox: enough for incremental sync, with Jira's own error messages.

Supported: ``project``, ``key``/``issuekey``, ``id``, ``updated``, ``created`` with
``= != > >= < <= in / not in``, ``AND``/``OR``/``NOT``, parentheses and ``ORDER BY`` (at most 7 fields).
Date bounds are epoch milliseconds (unquoted number), ``yyyy-MM-dd HH:mm``, ``yyyy/MM/dd HH:mm``, ``yyyy-MM-dd``,
``yyyy/MM/dd`` or a relative period (``-5d``); formatted bounds are read in the searching user's time zone, which
is the quirk that makes naive UTC bounds skip or repeat issues. Precision is the minute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["JqlError", "Query", "Row", "parse_jql"]


class JqlError(ValueError):
    """Jira answers 400 with this message in ``errorMessages``."""


@dataclass(frozen=True)
class Row:
    """What a JQL clause can look at for one issue."""

    id: int
    key: str
    project_key: str
    number: int
    created: datetime
    updated: datetime


Predicate = Callable[[Row], bool]


@dataclass
class Query:
    where: Predicate | None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def sort_values(self, row: Row) -> list[Any]:
        """The row's ORDER BY values plus its id (a total order), JSON-friendly for page tokens."""
        return [*(_order_value(row, name) for name, _ in self.order or _DEFAULT_ORDER), row.id]

    def comparable(self, values: list[Any]) -> tuple[Any, ...]:
        """``sort_values`` turned into a tuple that sorts in the query's order (DESC fields inverted)."""
        order = self.order or _DEFAULT_ORDER
        parts = [_Desc(_hashable(v)) if desc else _hashable(v) for v, (_, desc) in zip(values, order, strict=False)]
        return (*parts, values[-1])


_DEFAULT_ORDER = [("key", True)]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _Desc:
    """Inverts comparisons so one tuple sort handles mixed ASC/DESC."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value


_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|!~|=|>|<|~)'
    r"|(?P<punct>[(),])|(?P<word>[^\s()\",=<>!~']+))"
)
_RESERVED = {"and", "or", "not", "in", "order", "by", "asc", "desc", "is", "empty", "null"}
_FIELDS = {"project", "key", "issuekey", "id", "updated", "created"}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_PERIOD = re.compile(r"^([+-]?)((?:\d+[wdhm]\s*)+)$")
_DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)


@dataclass
class _Tok:
    kind: str  # str | op | punct | word | end
    text: str
    pos: int

    @property
    def value(self) -> str:
        return self.text[1:-1] if self.kind == "str" else self.text


def _tokenize(jql: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        m = _TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{jql[pos]}' is a reserved JQL character. "
                f"(line 1, character {pos + 1})"
            )
        kind = m.lastgroup or "word"
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(_Tok("end", "", len(jql)))
    return out


class _Parser:
    def __init__(self, jql: str, *, now: datetime, tz: ZoneInfo, projects: dict[str, str]) -> None:
        self.toks = _tokenize(jql)
        self.i = 0
        self.now, self.tz, self.projects = now, tz, projects

    # --- token helpers ---
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def fail(self, expected: str) -> JqlError:
        tok = self.peek()
        got = "end of query" if tok.kind == "end" else f"'{tok.text}'"
        return JqlError(
            f"Error in the JQL Query: Expecting {expected} but got {got}. (line 1, character {tok.pos + 1})"
        )

    # --- grammar ---
    def query(self) -> Query:
        where = None if self.is_word("order") or self.peek().kind == "end" else self.expr()
        order = self.order_by() if self.is_word("order") else []
        if self.peek().kind != "end":
            raise self.fail("either 'OR' or 'AND'")
        return Query(where, order)

    def expr(self) -> Predicate:
        left = self.term()
        while self.is_word("or"):
            self.take()
            right, prev = self.term(), left
            left = lambda r, a=prev, b=right: a(r) or b(r)  # noqa: E731
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.is_word("and"):
            self.take()
            right, prev = self.factor(), left
            left = lambda r, a=prev, b=right: a(r) and b(r)  # noqa: E731
        return left

    def factor(self) -> Predicate:
        if self.is_word("not"):
            self.take()
            inner = self.factor()
            return lambda r: not inner(r)
        if self.peek().text == "(":
            self.take()
            inner = self.expr()
            if self.take().text != ")":
                raise self.fail("')'")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        tok = self.peek()
        if tok.kind not in ("word", "str") or tok.text.lower() in _RESERVED:
            raise self.fail("a field name")
        name = self.take().value.lower()
        if name not in _FIELDS:
            raise JqlError(f"Field '{tok.value}' does not exist or you do not have permission to view it.")
        if self.is_word("in") or self.is_word("not"):
            negate = self.take().text.lower() == "not"
            if negate and not self.is_word("in"):
                raise self.fail("'IN'")
            if negate:
                self.take()
            values = self.value_list()
            return _membership(name, [self.coerce(name, v) for v in values], negate)
        op = self.take()
        if op.kind != "op" or op.text in ("~", "!~"):
            raise JqlError(
                f"Error in the JQL Query: Expecting operator but got '{op.text}'. The valid operators "
                f"are '=', '!=', '<', '>', '<=', '>=', 'IN' and 'NOT IN'. (line 1, character {op.pos + 1})"
            )
        value = self.take()
        if value.kind not in ("word", "str"):
            raise self.fail("either a value, list or function")
        return _compare(name, op.text, self.coerce(name, value))

    def value_list(self) -> list[_Tok]:
        if self.take().text != "(":
            raise self.fail("'('")
        values = [self.take()]
        while self.peek().text == ",":
            self.take()
            values.append(self.take())
        if self.take().text != ")":
            raise self.fail("')'")
        return values

    def order_by(self) -> list[tuple[str, bool]]:
        self.take()
        if not self.is_word("by"):
            raise self.fail("'by'")
        self.take()
        order = [self.sort_field()]
        while self.peek().text == ",":
            self.take()
            order.append(self.sort_field())
        if len(order) > 7:
            raise JqlError("The ORDER BY clause may contain at most 7 fields.")
        return order

    def sort_field(self) -> tuple[str, bool]:
        tok = self.take()
        name = tok.value.lower()
        if name not in _FIELDS:
            raise JqlError(f"Field '{tok.value}' does not exist or you do not have permission to view it.")
        desc = False
        if self.is_word("asc", "desc"):
            desc = self.take().text.lower() == "desc"
        return ("key" if name == "issuekey" else name, desc)

    # --- values ---
    def coerce(self, name: str, tok: _Tok) -> Any:
        raw = tok.value
        if name in ("updated", "created"):
            return _date_bound(raw, quoted=tok.kind == "str", field=name, now=self.now, tz=self.tz)
        if name == "project":
            key = self.projects.get(raw.upper())  # a key, an id or a name
            if key is None:
                raise JqlError(f"The value '{raw}' does not exist for the field 'project'.")
            return key
        if name == "id":
            if not raw.isdigit():
                raise JqlError(f"The value '{raw}' does not exist for the field 'id'.")
            return int(raw)
        if name in ("key", "issuekey"):
            return _key_tuple(raw)
        return raw.lower()


def _key_tuple(key: str) -> tuple[str, int]:
    project, _, number = key.upper().rpartition("-")
    if not project or not number.isdigit():
        raise JqlError(f"The issue key '{key}' for field 'key' is invalid.")
    return (project, int(number))


def _row_value(row: Row, name: str) -> Any:
    if name in ("updated", "created"):
        stamp = row.updated if name == "updated" else row.created
        return stamp.replace(second=0, microsecond=0)  # JQL compares at minute precision
    if name in ("key", "issuekey"):
        return (row.project_key, row.number)
    return row.project_key if name == "project" else row.id


def _order_value(row: Row, name: str) -> Any:
    """Sort values are JSON-friendly (epoch ms, strings, lists) so a page token can carry the last one."""
    if name in ("updated", "created"):
        stamp = row.updated if name == "updated" else row.created
        return int(stamp.timestamp() * 1000)
    if name == "key":
        return [row.project_key, row.number]
    return _row_value(row, name)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _compare(name: str, op: str, value: Any) -> Predicate:
    test = _OPS[op]
    return lambda r: test(_row_value(r, name), value)


def _membership(name: str, values: list[Any], negate: bool) -> Predicate:
    return lambda r: (_row_value(r, name) in values) != negate


def _date_bound(raw: str, *, quoted: bool, field: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A JQL date value → an aware UTC instant truncated to the minute."""
    if not quoted and raw.isdigit():
        instant = datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
        return instant.replace(second=0, microsecond=0)
    period = _PERIOD.match(raw.strip())
    if period:
        sign = -1 if period.group(1) == "-" else 1
        units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
        delta = timedelta(**{units[u]: int(n) for n, u in re.findall(r"(\d+)([wdhm])", period.group(2))})
        return (now + sign * delta).astimezone(UTC).replace(second=0, microsecond=0)
    for fmt in _DATE_FORMATS:
        try:
            naive = datetime.strptime(raw.strip(), fmt)
        except ValueError:
            continue
        local = naive.replace(tzinfo=tz)
        # A wall time inside a DST gap does not exist in the user's zone; Jira rejects it.
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
            raise JqlError(f"Date value '{raw}' for field '{field}' is invalid. {_DATE_HELP}")
        return local.astimezone(UTC)
    raise JqlError(f"Date value '{raw}' for field '{field}' is invalid. {_DATE_HELP}")


def parse_jql(jql: str, *, now: datetime, tz: ZoneInfo, projects: dict[str, str]) -> Query:
    """Parse ``jql`` or raise ``JqlError`` with the message Jira would put in ``errorMessages``.

    ``projects`` maps every upper-cased project key, id and name to the project's key.
    """
    return _Parser(jql, now=now, tz=tz, projects=projects).query()
