"""A Redshift lint of every SQL text the pipeline sends to a Redshift warehouse, without a cluster.

It reads the Redshift golden files (tests/golden/redshift/**, tests/golden/views/**: exactly what a
cluster receives, kept equal to the rendering by test_redshift_sql.py / test_views.py) and the
post-merge suite's queries, parses them with sqlglot and refuses the constructs the Amazon Redshift
documentation lists as unsupported. Each rule names its documentation page. Each rule is also
shown to fire on a planted statement, so a rule that cannot fail is caught.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from olist_etl.resources import resource_dir
from olist_etl.sqlfiles import statements

GOLDEN = Path(__file__).parent / "golden"
USER_SCHEMAS = ("user_access_layer", "staging_layer", "etl_control")

# Correlated subqueries: Redshift decorrelates some shapes only; skip-level references, references
# from an ON clause, from inside a window-function subquery, and others return errors
# (https://docs.aws.amazon.com/redshift/latest/dg/r_correlated_subqueries.html). The shipped SQL
# uses anti-joins instead (LEFT JOIN ... IS NULL), so every correlated subquery is refused, and
# the finding names the documented shape when it is one.
RULE_CORRELATED = "correlated-subquery"
# Leader-node-only functions fail on a query that reads a user table
# (https://docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html);
# generate_series is unsupported for tables
# (https://docs.aws.amazon.com/redshift/latest/dg/c_unsupported-postgresql-functions.html).
RULE_LEADER_NODE = "leader-node-only-function"
LEADER_NODE_ONLY = frozenset({
    "CURRENT_SCHEMA", "CURRENT_SCHEMAS", "HAS_DATABASE_PRIVILEGE", "HAS_SCHEMA_PRIVILEGE", "HAS_TABLE_PRIVILEGE",
    "SUBSTR", "FACTORIAL", "LOG", "AGE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME", "ISFINITE", "NOW",
    "GETBIT", "GET_BIT", "GET_BYTE", "SET_BIT", "SET_BYTE", "TO_ASCII", "GENERATE_SERIES",
})
# PostgreSQL syntax Redshift does not have
# (https://docs.aws.amazon.com/redshift/latest/dg/c_unsupported-postgresql-features.html,
# https://docs.aws.amazon.com/redshift/latest/dg/r_MERGE.html for MERGE's rules).
RULE_POSTGRES_ONLY = "postgresql-only-syntax"
_POSTGRES_ONLY_NODES: dict[type, str] = {
    exp.NullSafeNEQ: "IS DISTINCT FROM",
    exp.NullSafeEQ: "IS NOT DISTINCT FROM",
    exp.OnConflict: "ON CONFLICT",
    exp.Returning: "RETURNING",
    exp.Filter: "aggregate FILTER (WHERE ...)",
    exp.Lateral: "LATERAL",
    exp.Collate: "COLLATE",
}
_POSTGRES_ONLY_TEXT = (
    (re.compile(r"::\s*\w"), ":: cast"),
    (re.compile(r"\bWHEN\s+MATCHED\s+AND\b", re.I), "WHEN MATCHED AND (Redshift's MERGE takes no condition)"),
    (re.compile(r"\bTRUNCATE\b", re.I), "TRUNCATE (commits the transaction on Redshift)"),
)


@dataclass(frozen=True)
class Finding:
    rule: str
    detail: str


def _code(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))


_STRING = re.compile(r"'(?:[^']|'')*'")
# Called as functions (NOW(), SUBSTR(...)), or bare keywords (CURRENT_TIMESTAMP, LOCALTIME).
_LEADER_NODE_CALL = re.compile(
    r"\b(" + "|".join(sorted(LEADER_NODE_ONLY)) + r")\s*\(|\b(CURRENT_TIMESTAMP|CURRENT_TIME|LOCALTIME)\b", re.I
)


def _without_strings(code: str) -> str:
    """The SQL with its string literals emptied (an ARN's '::' is no cast)."""
    return _STRING.sub("''", code)


def _is_lock(tree: exp.Expression) -> bool:
    return isinstance(tree, exp.Command) and str(tree.this).upper() == "LOCK"


def _roots(tree: exp.Expression) -> list[exp.Select]:
    """Every SELECT not inside another SELECT (the query of a CTAS, MERGE, UPDATE ... FROM, ...)."""
    return [s for s in tree.find_all(exp.Select) if s.find_ancestor(exp.Select) is None]


def _shape(scope) -> str:
    """The documented shape a correlated subquery has, if any."""
    node = scope.expression
    shapes = []
    # A CTE or derived table the subquery reads is a Scope among its sources.
    if node.find(exp.Window) is not None or any(
        isinstance(source, Scope) and source.expression.find(exp.Window) is not None for source in scope.sources.values()
    ):
        shapes.append("inside a window-function subquery or CTE")
    ancestor = node.parent
    while ancestor is not None and not isinstance(ancestor, exp.Select):
        if isinstance(ancestor, (exp.Or, exp.Not)):
            shapes.append("under OR / NOT")
            break
        if isinstance(ancestor, exp.Join):
            shapes.append("in an ON clause")
            break
        ancestor = ancestor.parent
    parent = scope.parent
    if parent is not None:
        names = {c.table for c in scope.external_columns if c.table}
        if names and not names <= set(parent.sources):
            shapes.append("skip-level")
    return ", ".join(shapes) or "correlated"


def lint(sql: str) -> list[Finding]:
    """Every rule violation in one SQL text (one or more statements)."""
    findings: list[Finding] = []
    for statement in statements(sql):
        code = _without_strings(_code(statement))
        for pattern, name in _POSTGRES_ONLY_TEXT:
            if pattern.search(code):
                findings.append(Finding(RULE_POSTGRES_ONLY, name))
        tree = sqlglot.parse_one(statement, read="redshift")
        if _is_lock(tree):
            continue
        for node_type, name in _POSTGRES_ONLY_NODES.items():
            if tree.find(node_type) is not None:
                findings.append(Finding(RULE_POSTGRES_ONLY, name))
        if any(d.args.get("on") for d in tree.find_all(exp.Distinct)):
            findings.append(Finding(RULE_POSTGRES_ONLY, "DISTINCT ON"))
        reads_user_table = any(t.db in USER_SCHEMAS for t in tree.find_all(exp.Table))
        if reads_user_table:
            # By the text: sqlglot maps SUBSTR to SUBSTRING and NOW to CURRENT_TIMESTAMP.
            for match in _LEADER_NODE_CALL.finditer(code):
                findings.append(Finding(RULE_LEADER_NODE, (match.group(1) or match.group(2)).upper()))
        for root in _roots(tree):
            for scope in traverse_scope(root):
                outer = [c for c in scope.external_columns if c.table]
                if outer:
                    findings.append(Finding(RULE_CORRELATED, f"{_shape(scope)}: {', '.join(sorted({c.sql() for c in outer}))}"))
    return findings


# --- the shipped SQL --------------------------------------------------------------------------------

def _shipped() -> dict[str, str]:
    out = {p.relative_to(GOLDEN).as_posix(): p.read_text(encoding="utf-8") for p in sorted(GOLDEN.rglob("*.sql"))}
    suite = json.loads((resource_dir("expectations") / "post_merge" / "star_schema.json").read_text(encoding="utf-8"))
    queries = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "unexpected_rows_query":
                    queries.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(suite)
    for i, query in enumerate(queries):
        out[f"post_merge/star_schema.json#{i}"] = query.replace("{batch}", "user_access_layer.fact_orders") + ";\n"
    return out


SHIPPED = _shipped()


def test_the_lint_reads_every_kind_of_shipped_sql():
    kinds = {name.split("/")[0] for name in SHIPPED}
    assert {"redshift", "views", "post_merge"} <= kinds
    assert sum(name.startswith("post_merge/") for name in SHIPPED) >= 15
    assert "redshift/merge/fact_orders.sql" in SHIPPED and "redshift/control/lock_sync.sql" in SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_sql_passes_the_redshift_lint(name):
    assert lint(SHIPPED[name]) == [], name


# --- each rule fires on a planted statement ---------------------------------------------------------

PLANTED = [
    pytest.param(
        # The shape fact_orders.sql had: NOT EXISTS over a CTE built with a window function.
        """WITH staged AS (
            SELECT order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC) AS version_rank
            FROM staging_layer.orders
        )
        SELECT stored.order_id FROM user_access_layer.fact_orders AS stored
        WHERE NOT EXISTS (SELECT 1 FROM staged WHERE staged.order_id = stored.order_id);""",
        RULE_CORRELATED, "inside a window-function subquery or CTE", id="not-exists-over-window-cte",
    ),
    pytest.param(
        # The shape the post-merge suite had: a correlated EXISTS under NOT / OR.
        """SELECT f.order_id FROM user_access_layer.fact_payments AS f
        WHERE NOT (f.purchase_date_key IS NULL OR EXISTS (
            SELECT 1 FROM user_access_layer.dim_date dd WHERE dd.date_key = f.purchase_date_key));""",
        RULE_CORRELATED, "under OR / NOT", id="exists-under-or-not",
    ),
    pytest.param(
        """SELECT e.order_id FROM user_access_layer.fact_orders e WHERE NOT EXISTS (
            SELECT 1 FROM user_access_layer.fact_order_items l WHERE NOT EXISTS (
                SELECT 1 FROM user_access_layer.fact_payments p WHERE e.order_id = p.order_id));""",
        RULE_CORRELATED, "skip-level", id="skip-level",
    ),
    pytest.param(
        """SELECT o.order_id FROM user_access_layer.fact_orders o
        LEFT JOIN user_access_layer.fact_payments p ON p.order_id = o.order_id
            AND p.payment_sequential = (SELECT MAX(i.order_item_id) FROM user_access_layer.fact_order_items i WHERE i.order_id = p.order_id);""",
        RULE_CORRELATED, "in an ON clause", id="on-clause",
    ),
    pytest.param(
        """UPDATE user_access_layer.fact_orders SET deleted_at = NULL
        WHERE NOT EXISTS (SELECT 1 FROM staging_layer.orders d WHERE d.order_id = fact_orders.order_id);""",
        RULE_CORRELATED, "", id="update-correlated",
    ),
    pytest.param("SELECT NOW(), order_id FROM user_access_layer.fact_orders;", RULE_LEADER_NODE, "NOW", id="now"),
    pytest.param("SELECT SUBSTR(order_id, 1, 2) FROM staging_layer.orders;", RULE_LEADER_NODE, "SUBSTR", id="substr"),
    pytest.param(
        "SELECT d FROM generate_series(1, 10) AS d JOIN user_access_layer.dim_date x ON x.date_key = d;",
        RULE_LEADER_NODE, "GENERATE_SERIES", id="generate-series",
    ),
    pytest.param(
        "SELECT order_id FROM user_access_layer.fact_orders o WHERE o.order_status IS DISTINCT FROM 'x';",
        RULE_POSTGRES_ONLY, "IS DISTINCT FROM", id="is-distinct-from",
    ),
    pytest.param("SELECT order_id::varchar FROM user_access_layer.fact_orders;", RULE_POSTGRES_ONLY, ":: cast", id="cast"),
    pytest.param(
        "INSERT INTO etl_control.loads (table_name, run_id) VALUES ('a', 'b') ON CONFLICT (table_name) DO NOTHING;",
        RULE_POSTGRES_ONLY, "ON CONFLICT", id="on-conflict",
    ),
    pytest.param(
        "SELECT DISTINCT ON (order_id) order_id, updated_at FROM staging_layer.orders ORDER BY order_id, updated_at DESC;",
        RULE_POSTGRES_ONLY, "DISTINCT ON", id="distinct-on",
    ),
    pytest.param(
        "SELECT COUNT(*) FILTER (WHERE order_status = 'x') FROM user_access_layer.fact_orders;",
        RULE_POSTGRES_ONLY, "aggregate FILTER (WHERE ...)", id="filter",
    ),
    pytest.param("SELECT MIN(order_status COLLATE \"C\") FROM user_access_layer.fact_orders;", RULE_POSTGRES_ONLY, "COLLATE", id="collate"),
    pytest.param("TRUNCATE staging_layer.orders;", RULE_POSTGRES_ONLY, "TRUNCATE", id="truncate"),
]


@pytest.mark.parametrize("sql,rule,detail", PLANTED)
def test_the_lint_fails_on_a_planted_construct(sql, rule, detail):
    findings = lint(sql)
    assert any(f.rule == rule and detail in f.detail for f in findings), findings


def test_the_anti_join_rewrite_of_a_planted_shape_passes():
    # The same question as the planted NOT EXISTS, asked as the merges now ask it.
    sql = """WITH staged AS (
        SELECT order_id, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC) AS version_rank
        FROM staging_layer.orders
    )
    SELECT stored.order_id FROM user_access_layer.fact_orders AS stored
    LEFT JOIN staged ON staged.order_id = stored.order_id
    WHERE staged.order_id IS NULL;"""
    assert lint(sql) == []


def test_leader_node_functions_are_allowed_on_catalog_only_queries():
    # Only a query that reads a user table runs on the compute nodes.
    assert lint("SELECT CURRENT_SCHEMA();") == []
