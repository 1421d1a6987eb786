"""The user's row filter (bq_where / THEMEGEN_BQ_WHERE), checked before any BigQuery call (issue 11).

snapshot_sql pastes the filter as `WHERE ({where}) AND <shard condition>`. Text that closes that
parenthesis (`1=1) OR (1=1`) would OR itself past the shard and batch conditions, so every shard
would read every row. The filter is therefore accepted only if it is one boolean expression, by two
independent checks: a small scanner of our own (parenthesis depth, comments, `;`), so a leniency of
the parser cannot let an escape through, and sqlglot's BigQuery parser (one expression, no
statement, no subquery). The text is kept as written: re-rendering it through sqlglot could change
its meaning in BigQuery.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# Roots sqlglot can tell are not boolean (a column or function alone is left to BigQuery to judge).
_NOT_BOOLEAN = (
    exp.Literal, exp.Null, exp.Star, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv,
    exp.DPipe, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.Array, exp.Struct,
)


def _refuse(text: str, reason: str) -> ValueError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ValueError(
        f"THEMEGEN_BQ_WHERE (bq_where) {shown!r} {reason}: set it to one boolean SQL expression on the "
        "source columns, e.g. lang = 'ja', or unset it to read every row"
    )


def _scan(text: str) -> None:
    """Parenthesis depth, comments and `;` outside quotes, by BigQuery's lexical rules.

    Quotes: '...', "...", their triple forms and `identifiers`; a backslash always keeps the next
    character inside (in raw strings too, where it is kept but still cannot end the literal).
    """
    depth, i, quote = 0, 0, None
    while i < len(text):
        if quote:
            if text[i] == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i, quote = i + len(quote), None
                continue
            i += 1
            continue
        for opener in ("'''", '"""', "'", '"', "`"):
            if text.startswith(opener, i):
                quote = opener
                break
        if quote:
            i += len(quote)
            continue
        if text.startswith(("--", "/*", "#"), i):
            raise _refuse(text, "contains a comment")
        if text[i] == ";":
            raise _refuse(text, "contains ';' (one expression, not statements)")
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth < 0:
            raise _refuse(text, f"closes a parenthesis it did not open (column {i + 1})")
        i += 1
    if quote:
        raise _refuse(text, f"leaves a {quote} quote open")
    if depth:
        raise _refuse(text, f"leaves {depth} parenthesis(es) open")


def validate_where(text: str) -> str:
    """`text` stripped, if it is one boolean BigQuery expression; else ValueError saying why."""
    where = text.strip()
    if not where:
        raise _refuse(text, "is empty")
    _scan(where)  # first: unbalanced text is refused whatever the parser makes of it
    try:
        statements = sqlglot.parse(where, read="bigquery")
    except SqlglotError as error:
        detail = getattr(error, "errors", None)
        reason = f"{detail[0]['description']} at column {detail[0]['col']}" if detail else str(error)
        raise _refuse(where, f"does not parse as SQL ({reason})") from error
    if len(statements) != 1 or statements[0] is None:
        raise _refuse(where, "is not exactly one expression")
    root = statements[0]
    # Statements (SELECT, DELETE, ...) and `expr alias` (which sqlglot reads as an alias) are not
    # conditions; a WHERE needs one.
    if not isinstance(root, exp.Condition):
        raise _refuse(where, f"is not a boolean expression (it reads as {root.key.upper()})")
    if root.find(exp.Query, exp.Subquery):
        raise _refuse(where, "contains a subquery (EXISTS, IN (SELECT ...)); filter on the table's columns")
    if root.find(exp.Parameter, exp.Placeholder):
        raise _refuse(where, "uses a query parameter (@name or ?); the snapshot query binds its own")
    if any(node.comments for node in root.walk()):  # the scanner refuses them too: belt and braces
        raise _refuse(where, "contains a comment")
    if isinstance(root.unnest(), _NOT_BOOLEAN):
        raise _refuse(where, "is not a boolean expression (a value, not a condition)")
    return where
