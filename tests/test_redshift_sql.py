"""The Redshift SQL, checked without a cluster: golden files, sqlglot parsing, refusals.

Regenerate the golden files after an intended SQL change with:
    UPDATE_GOLDEN=1 /tmp/venv/bin/pytest tests/test_redshift_sql.py
and review the diff like any other change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from olist_etl.sqlfiles import render, statements
from olist_etl.tables import TABLE_NAMES
from olist_etl.load import ddl_sql, landing_table, redshift_copy_sql
from olist_etl.merge import DELETE_TARGETS, PURCHASE_RANGE_TABLES, STAR_TABLES, fast_path_sql, mark_deleted_sql, merge_sql
from olist_etl.stage import NULL_MARKER
from olist_etl.warehouse.keys import KEY_CHECKS, check_key_sql

GOLDEN = Path(__file__).parent / "golden" / "redshift"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
ROLE = "arn:aws:iam::123456789012:role/olist-redshift-copy"
MANIFEST_URI = "s3://olist-staging/olist/runs/20180301T100000Z/{table}/copy.manifest"


def rendered(dialect: str) -> dict[str, str]:
    """Every SQL text the pipeline sends to the warehouse, by golden file name."""
    out = {f"ddl/{Path(path).name}": sql for path, sql in ddl_sql(dialect)}
    merges = merge_sql(dialect)
    out["deletes/mark_deleted_derived.sql"] = merges.pop("mark_deleted_derived")
    out.update({f"merge/{name}.sql": sql for name, sql in merges.items()})
    out["deletes/mark_deleted.sql"] = "\n".join(
        mark_deleted_sql(dialect, source, target, natural_key, scope)
        for source, target, natural_key in DELETE_TARGETS
        for scope in ("all", "listed") + (("purchase_range",) if source in PURCHASE_RANGE_TABLES else ())
    )
    out["load/clear_delta.sql"] = "".join(
        render("warehouse/load/clear_delta.sql", dialect, table=name) for name in TABLE_NAMES
    )
    if dialect == "redshift":
        # The COPY fills the table's landing table (olist_etl/load.py load_landing).
        out["load/copy_redshift.sql"] = "\n".join(
            redshift_copy_sql(name, MANIFEST_URI.format(table=name), ROLE, target=landing_table(name)) for name in TABLE_NAMES
        )
        out["load/copy_redshift_region.sql"] = redshift_copy_sql("orders", MANIFEST_URI.format(table="orders"), ROLE, "sa-east-1")
        out["load/analyze_delta.sql"] = render("warehouse/load/analyze_delta.sql", dialect, table="orders")
    for name in ("lock_sync", "record_load", "loaded_runs", "landed_run", "read_views", "view_columns", "record_view"):
        out[f"control/{name}.sql"] = render(f"warehouse/control/{name}.sql", dialect)
    out["control/drop_view.sql"] = render("warehouse/control/drop_view.sql", dialect, view="payment_mix")
    out["merge/checks/check_keys.sql"] = "\n".join(check_key_sql(dialect, check) for check in KEY_CHECKS)
    out["merge/checks/count_source.sql"] = render("warehouse/merge/count_source.sql", dialect, source_table="merge_source_fact_orders")
    # The fast path: a step whose target is still empty inserts, without the MERGE.
    out.update({f"merge/fast/{step}.sql": sql for step, sql in fast_path_sql(dialect).items()})
    out["merge/checks/empty_targets.sql"] = render("warehouse/merge/empty_targets.sql", dialect, targets=STAR_TABLES)
    out["merge/checks/analyze.sql"] = render("warehouse/merge/analyze.sql", dialect, table="fact_orders")
    return out


REDSHIFT = rendered("redshift")
POSTGRES = rendered("postgresql")


@pytest.mark.parametrize("name", sorted(REDSHIFT))
def test_redshift_sql_matches_golden_file(name):
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(REDSHIFT[name], encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
    assert REDSHIFT[name] == path.read_text(encoding="utf-8"), f"{name} changed: review, then UPDATE_GOLDEN=1"


def test_no_stale_golden_files():
    on_disk = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.sql")}
    assert on_disk == set(REDSHIFT)


def _is_lock(tree: exp.Expression) -> bool:
    return (
        isinstance(tree, exp.Command) and str(tree.this).upper() == "LOCK"
        and re.fullmatch(r"[a-z_]+\.[a-z_]+", tree.expression.name) is not None
    )


def _parse_all(sql: str, read: str) -> list[exp.Expression]:
    parsed = []
    for statement in statements(sql):
        trees = sqlglot.parse(statement, read=read)
        assert len(trees) == 1 and trees[0] is not None
        # exp.Command is sqlglot's "did not understand, kept as text" fallback: not a real parse.
        # sqlglot has no LOCK statement: it passes only as exactly `LOCK <schema>.<table>`.
        if _is_lock(trees[0]):
            parsed.append(trees[0])
            continue
        assert not list(trees[0].find_all(exp.Command)), statement[:200]
        parsed.append(trees[0])
    return parsed


# Rendered files that send no statement (fact_orders' fast insert filled the totals).
NOTHING_TO_SEND = {"merge/fast/fact_orders_totals.sql"}


@pytest.mark.parametrize("name", sorted(REDSHIFT))
def test_every_redshift_statement_parses(name):
    assert _parse_all(REDSHIFT[name], "redshift") or name in NOTHING_TO_SEND


@pytest.mark.parametrize("name", sorted(POSTGRES))
def test_every_postgres_statement_parses(name):
    assert _parse_all(POSTGRES[name], "postgres") or name in NOTHING_TO_SEND


def _merge_files(rendered_sql: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in rendered_sql.items() if k.startswith("merge/") and not k.startswith(("merge/checks/", "merge/fast/"))}


def test_fast_path_steps_insert_without_a_merge_on_both_dialects():
    for rendering in (REDSHIFT, POSTGRES):
        fast = {k: v for k, v in rendering.items() if k.startswith("merge/fast/")}
        assert fast, "no fast-path rendering"
        for name, sql in fast.items():
            upper = sql.upper()
            if name in NOTHING_TO_SEND:
                assert statements(sql) == [], name
                continue
            assert "INSERT INTO" in upper and "MERGE INTO" not in upper, name


def test_redshift_merges_read_a_table_and_avoid_unsupported_syntax():
    for name, sql in _merge_files(REDSHIFT).items():
        merges = [t for t in _parse_all(sql, "redshift") if isinstance(t, exp.Merge)]
        assert len(merges) == 1, name
        # Redshift MERGE: the source is a table (no subquery), the target has no alias, and
        # WHEN MATCHED carries no extra condition.
        assert isinstance(merges[0].args["using"], exp.Table), name
        assert not merges[0].this.alias, name
        assert "IS DISTINCT FROM" not in sql.upper() and "WHEN MATCHED AND" not in sql.upper(), name


def test_deletes_are_updates_joined_to_their_keys_without_correlated_subqueries():
    # Redshift documents correlated subqueries as unsupported in several positions: the delete
    # marks are UPDATE ... FROM an anti-join, on both dialects.
    for dialect, rendered_sql in (("redshift", REDSHIFT), ("postgres", POSTGRES)):
        for name in ("deletes/mark_deleted.sql", "deletes/mark_deleted_derived.sql"):
            trees = _parse_all(rendered_sql[name], dialect)
            assert trees and all(isinstance(t, exp.Update) and (t.args.get("from") or t.args.get("from_")) is not None for t in trees), name
            assert "EXISTS" not in _code(rendered_sql[name]).upper() and " NOT IN " not in _code(rendered_sql[name]).upper(), name


def test_postgres_merges_are_single_statements():
    for name, sql in _merge_files(POSTGRES).items():
        assert [type(t) for t in _parse_all(sql, "postgres")] == [exp.Merge], name


def _code(sql: str) -> str:
    """The SQL without its comment lines (comments explain the Redshift choices in both renderings)."""
    return "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))


def test_dialect_branches_stay_narrow():
    postgres_text = "\n".join(_code(sql) for sql in POSTGRES.values()).upper()
    for word in ("DISTKEY", "SORTKEY", "DISTSTYLE", "DATEADD", "IAM_ROLE"):
        assert word not in postgres_text
    redshift_ddl = "\n".join(_code(v) for k, v in REDSHIFT.items() if k.startswith("ddl/"))
    assert not re.search(r"\bTEXT\b", redshift_ddl)  # Redshift would make it VARCHAR(256)
    assert "TRUNCATE" not in _code(REDSHIFT["load/clear_delta.sql"])  # it would commit the load's transaction
    assert "DISTKEY (order_id)" in REDSHIFT["ddl/user_access_layer.sql"]
    assert "COLLATE" not in "\n".join(_code(sql) for sql in REDSHIFT.values())  # PostgreSQL's byte order only


def test_the_golden_files_have_no_correlated_not_exists_and_hold_the_lock_and_fresh_statistics():
    # Issue 13: the merges are anti-joins, every writing transaction starts with the LOCK, and the
    # COPY refreshes statistics (an empty table is analysed instead).
    for name, sql in REDSHIFT.items():
        assert "EXISTS (" not in _code(sql).upper().replace("IF NOT EXISTS (", ""), name
    assert _code(REDSHIFT["control/lock_sync.sql"]).strip() == "LOCK etl_control.loads;"
    copies = _code(REDSHIFT["load/copy_redshift.sql"])
    assert copies.count("STATUPDATE ON;") == len(TABLE_NAMES) and "STATUPDATE OFF" not in copies
    assert "ANALYZE staging_layer.\"orders\";" in _code(REDSHIFT["load/analyze_delta.sql"])


def test_fact_merge_sources_are_distributed_on_the_order_and_postgresql_renders_none():
    for step in ("fact_orders", "fact_order_items", "fact_orders_totals", "fact_payments", "fact_reviews"):
        assert f"CREATE TEMP TABLE merge_source_{step} DISTKEY (order_id) AS" in REDSHIFT[f"merge/{step}.sql"], step
    on_postgres = merge_sql("redshift-on-postgresql")
    assert "DISTKEY" not in on_postgres["fact_orders"] and "CREATE TEMP TABLE merge_source_fact_orders AS" in on_postgres["fact_orders"]
    # The Redshift SQL run on PostgreSQL: Redshift's structure, PostgreSQL's date arithmetic.
    assert "DATEADD" not in "".join(on_postgres.values()) and "DATEADD" in "".join(merge_sql("redshift").values())
    assert "IS DISTINCT FROM" not in "".join(on_postgres.values())


def test_text_change_detection_sees_trailing_blanks_on_redshift():
    # Redshift compares 'a' = 'a  ' as equal: text columns compare byte lengths too, others do not.
    sql = _code(REDSHIFT["merge/fact_orders.sql"])
    assert "OCTET_LENGTH(keyed.order_status) <> OCTET_LENGTH(stored.order_status)" in sql
    assert "OCTET_LENGTH(keyed.order_purchase_timestamp)" not in sql


def test_redshift_text_widths_are_bytes_and_no_free_text_is_char():
    tables = {t.name: t for t in __import__("olist_etl.tables", fromlist=["TABLES"]).TABLES}
    ddl = _code(REDSHIFT["ddl/user_access_layer.sql"]) + _code(REDSHIFT["ddl/staging_layer.sql"])
    for table in tables.values():
        for column in table.columns:
            if column.kind != "text":
                continue
            for match in re.finditer(rf'"?\b{column.name}\b"? (\w+(?:\(\d+\))?)', ddl):
                declared = match.group(1)
                assert not declared.startswith("CHAR"), (column.name, declared)
                width = int(re.search(r"\((\d+)\)", declared).group(1))
                # 100 utf8mb4 characters in the source: up to 400 bytes.
                assert width >= 400, (column.name, declared)


def test_copy_region_is_rendered_only_when_set_and_refused_when_malformed():
    assert "REGION 'sa-east-1'" in REDSHIFT["load/copy_redshift_region.sql"]
    assert "REGION" not in _code(redshift_copy_sql("orders", MANIFEST_URI.format(table="orders"), ROLE))
    for bad in ("sa-east-1'; DROP TABLE x; --", "SA-EAST-1", "sa east 1", ""):
        with pytest.raises(ValueError, match="OLIST_REDSHIFT_REGION"):
            redshift_copy_sql("orders", MANIFEST_URI.format(table="orders"), ROLE, bad)


def test_copy_sql_has_the_options_the_staging_contract_needs():
    sql = redshift_copy_sql("orders", MANIFEST_URI.format(table="orders"), ROLE)
    for option in ("MANIFEST", "FORMAT AS CSV", "GZIP", "IGNOREHEADER 1", f"NULL AS '{NULL_MARKER}'", "TIMEFORMAT 'auto'"):
        assert option in sql
    # NULL is the staged marker; either option would load a staged '' (or '  ') as NULL.
    assert "EMPTYASNULL" not in _code(sql) and "BLANKSASNULL" not in _code(sql)
    assert f"IAM_ROLE '{ROLE}'" in sql
    columns = re.search(r'COPY staging_layer\."orders" \(([^)]*)\)', sql).group(1)
    assert columns.endswith('"updated_at"')


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:iam::123456789012:user/not-a-role",
        "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=AKIA",
        "arn:aws:iam::123456789012:role/with space",
        "arn:aws:iam::123456789012:role/",
        " arn:aws:iam::123456789012:role/leading-space",
        "",
        None,
    ],
)
def test_bad_iam_role_is_refused(role):
    with pytest.raises(ValueError, match="IAM role"):
        redshift_copy_sql("orders", MANIFEST_URI.format(table="orders"), role)


@pytest.mark.parametrize(
    "uri",
    [
        "https://olist-staging.s3.amazonaws.com/runs/x/copy.manifest",
        "file:///tmp/staging/runs/x/copy.manifest",
        "s3://olist-staging/runs/x'; DROP TABLE user_access_layer.fact_orders; --",
        "s3://olist-staging/runs/x y/copy.manifest",
        "s3://olist-staging/runs/x%27/copy.manifest",
        "s3://Bad_Bucket/runs/x/copy.manifest",
        "s3://olist-staging/",
        "s3://olist-staging/runs/x\\/copy.manifest",
    ],
)
def test_bad_manifest_uri_is_refused(uri):
    with pytest.raises(ValueError, match="manifest URI"):
        redshift_copy_sql("orders", uri, ROLE)


def test_good_values_are_accepted():
    sql = redshift_copy_sql("order_items", "s3://olist-staging/olist/runs/2018-03-01T10:00:00/x.manifest", ROLE + "/path.v2")
    assert "s3://olist-staging/olist/runs/2018-03-01T10:00:00/x.manifest" in sql


def test_unknown_table_is_refused():
    with pytest.raises(KeyError):
        redshift_copy_sql("orders (x) FROM 's3://evil/m'", MANIFEST_URI.format(table="orders"), ROLE)


def _table_properties(sql: str) -> dict[str, dict[str, str]]:
    """table name -> {property class: its Redshift SQL} of every CREATE TABLE in a rendered DDL file."""
    out = {}
    for tree in _parse_all(sql, "redshift"):
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            properties = tree.args.get("properties")
            out[tree.this.this.name] = {type(p).__name__: p.sql("redshift") for p in (properties.expressions if properties else [])}
    return out


def test_redshift_star_schema_distribution_and_sort_keys():
    tables = _table_properties(REDSHIFT["ddl/user_access_layer.sql"])
    # Order facts: distributed on the order so the facts of one order (and their merges) join on one slice,
    # sorted on a date key for date-restricted scans.
    for fact, sort_key in (("fact_orders", "purchase_date_key"), ("fact_order_items", "purchase_date_key"),
                           ("fact_payments", "purchase_date_key"), ("fact_reviews", "review_creation_date_key")):
        assert tables[fact] == {"DistStyleProperty": "DISTSTYLE KEY", "DistKeyProperty": "DISTKEY(order_id)",
                                "SortKeyProperty": f"SORTKEY({sort_key})"}, fact
    # Dimensions (and the customer lookup): a copy on every node; SCD2 ones sorted for the as-of lookup.
    for dim in ("dim_customer", "dim_product", "dim_seller", "dim_date", "dim_geolocation", "customer_account",
                "product_category_translation"):
        assert tables[dim]["DistStyleProperty"] == "DISTSTYLE ALL", dim
    for dim, natural_key in (("dim_customer", "customer_unique_id"), ("dim_product", "product_id"), ("dim_seller", "seller_id")):
        assert tables[dim]["SortKeyProperty"] == f"SORTKEY({natural_key}, valid_from)", dim


def test_redshift_merges_fit_redshifts_merge_and_window_rules():
    for name, sql in _merge_files(REDSHIFT).items():
        trees = _parse_all(sql, "redshift")
        (merge,) = [t for t in trees if isinstance(t, exp.Merge)]
        # Redshift requires exactly WHEN MATCHED THEN UPDATE followed by WHEN NOT MATCHED THEN INSERT.
        whens = merge.args["whens"].expressions
        assert [(w.args["matched"], type(w.args["then"]).__name__) for w in whens] == [(True, "Update"), (False, "Insert")], name
        # An aggregate window function with ORDER BY needs an explicit frame on Redshift.
        for tree in trees:
            for window in tree.find_all(exp.Window):
                if isinstance(window.this, (exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max)) and window.args.get("order") is not None:
                    assert window.args.get("spec") is not None, f"{name}: {window.sql('redshift')}"


def test_surrogate_keys_are_deterministic_hashes_not_sequences():
    everything = "\n".join(_code(sql) for sql in REDSHIFT.values()).upper()
    assert "IDENTITY" not in everything and "NEXTVAL" not in everything
    for dim, natural_key in (("dim_customer", "customer_unique_id"), ("dim_product", "product_id"), ("dim_seller", "seller_id")):
        assert f"MD5(CAST({natural_key.upper()} AS VARCHAR(32)) || '|' || TO_CHAR(VALID_FROM" in _code(REDSHIFT[f"merge/{dim}.sql"]).upper()


def test_the_rendering_follows_the_warehouse_and_the_redshift_sql_runs_on_postgresql_only(tmp_path):
    from olist_etl.settings import Settings
    from olist_etl.warehouse.rendering import sql_dialect
    from tests.support.services import make_settings

    def settings(url: str, chosen: str | None) -> Settings:
        return make_settings(tmp_path, source_url="sqlite://", warehouse_url=url, warehouse_sql=chosen)

    postgres, redshift = "postgresql://u@h/db", "redshift://u:secret@cluster:5439/dev"
    assert sql_dialect(settings(postgres, None)) == "postgresql"
    assert sql_dialect(settings(redshift, None)) == "redshift"
    assert sql_dialect(settings(postgres, "redshift-on-postgresql")) == "redshift-on-postgresql"
    with pytest.raises(ValueError, match="OLIST_WAREHOUSE_SQL='redshift-on-postgresql' cannot run on a redshift warehouse"):
        sql_dialect(settings(redshift, "redshift-on-postgresql"))
    with pytest.raises(ValueError, match="OLIST_WAREHOUSE_SQL='mysql' cannot run on a postgresql warehouse"):
        sql_dialect(settings(postgres, "mysql"))
    # Read from the environment, like every setting.
    env = Settings.from_env({"OLIST_WAREHOUSE_SQL": "redshift-on-postgresql", "OLIST_REDSHIFT_REGION": " sa-east-1 "}, load_dotenv=False)
    assert (env.warehouse_sql, env.redshift_region) == ("redshift-on-postgresql", "sa-east-1")
    assert Settings.from_env({}, load_dotenv=False).redshift_region is None
