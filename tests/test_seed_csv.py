"""Seeding the source from Kaggle-format CSV files: real files and small hand-written ones."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from olist_etl.source import create_source_schema, seed_from_csv
from olist_etl.tables import TABLES
from tests.support.tables import source_engine_for

pytestmark = pytest.mark.integration

REVIEWS_FILE = "olist_order_reviews_dataset.csv"
CUSTOMERS_FILE = "olist_customers_dataset.csv"
# Quotes, commas, a CRLF inside the value, accents, emoji, and a backslash and a tab (MySQL's
# LOAD DATA escape characters).
TRICKY_MESSAGE = 'Ótimo produto, "recomendo"!\r\nChegou em 2 dias; valeu 😀 \\ fim\tok'
REVIEW_A, REVIEW_B, REVIEW_C, REVIEW_D = ("%032x" % n for n in (0xA, 0xB, 0xC, 0xD))
ORDER = "%032x" % 0x1


@pytest.fixture(params=["sqlite", "mysql"])
def engine(request, tmp_path):
    engine = source_engine_for(request.param, request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    yield engine
    engine.dispose()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def reviews_csv(folder: Path) -> Path:
    """Header on line 1; review A spans lines 2-3; B (unquoted comma) is line 4; C (bad date) 5; D 6."""
    quoted = TRICKY_MESSAGE.replace('"', '""')
    return write(folder / REVIEWS_FILE, (
        '"review_id","order_id","review_score","review_comment_title","review_comment_message","review_creation_date","review_answer_timestamp"\n'
        f'{REVIEW_A},{ORDER},5,,"{quoted}",2018-01-18 00:00:00,2018-01-18 21:46:59\n'
        f"{REVIEW_B},{ORDER},4,,chegou bem, recomendo,2018-03-10 00:00:00,2018-03-11 03:05:13\n"
        f'"{REVIEW_C}","{ORDER}",1,"ruim",,2018-02-31 00:00:00,2018-03-01 10:00:00\n'
        f"{REVIEW_D},{ORDER},3,,,2018-04-01 00:00:00,2018-04-02 12:00:00\n"
    ))


def rejects_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_real_products_and_translation_files_load_with_header_typo_and_bom(engine, shared_real, tmp_path):
    # Act: the shared folder holds the real products, translations, payments and sellers.
    report = seed_from_csv(engine, shared_real, rejects_dir=tmp_path / "rejects")

    # Assert
    assert report.rows["products"] == 32_951
    assert report.rows["product_category_name_translation"] == 71
    assert report.rows["order_payments"] == 103_886 and report.rows["sellers"] == 3_095
    assert report.total_rejected == 0 and report.rejects_files == []
    assert sum("not found" in note for note in report.notes) == len(TABLES) - 4
    with engine.connect() as conn:
        not_defined = conn.execute(sa.text("select count(*) from order_payments where payment_type = 'not_defined'")).scalar_one()
        leading_zero = conn.execute(sa.text("select count(*) from sellers where seller_zip_code_prefix like '0%'")).scalar_one()
    assert not_defined == 3 and leading_zero > 0  # the real quirks survive: an odd type, zip prefixes kept as text
    with engine.connect() as conn:
        named, described, weighed = conn.execute(sa.text(
            "select count(product_name_length), count(product_description_length), count(product_weight_g) from products"
        )).one()
        english = conn.execute(sa.text(
            "select product_category_name_english from product_category_name_translation where product_category_name = :c"
        ), {"c": "beleza_saude"}).scalar_one()
    assert (named, described, weighed) == (32_951 - 610, 32_951 - 610, 32_951 - 2)
    assert english == "health_beauty"  # the first column was found despite the BOM


def test_a_multi_line_review_round_trips_and_malformed_rows_are_reported_and_kept_aside(engine, tmp_path):
    # Arrange
    csv_dir, rejects_dir = tmp_path / "kaggle", tmp_path / "rejects"
    reviews_csv(csv_dir)

    # Act
    report = seed_from_csv(engine, csv_dir, rejects_dir=rejects_dir)

    # Assert: the well-formed rows loaded, byte for byte; empty fields are NULL
    assert report.rows["order_reviews"] == 2
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text(
            "select review_id, review_comment_message from order_reviews order by review_id"
        )).all())
        title = conn.execute(sa.text("select review_comment_title from order_reviews where review_id = :r"), {"r": REVIEW_D}).scalar_one()
    assert rows == {REVIEW_A: TRICKY_MESSAGE, REVIEW_D: None}
    assert title is None

    # Assert: the two malformed rows are reported with file, line and reason...
    assert [(r.file, r.line) for r in report.rejected] == [(REVIEWS_FILE, 4), (REVIEWS_FILE, 5)]
    assert "expected 7 fields, found 8" in report.rejected[0].reason
    assert "review_creation_date is not a timestamp" in report.rejected[1].reason
    assert report.rejected_counts == {"order_reviews": 2}
    # ...and written, as they were in the file, to the rejects file
    rejected = rejects_rows(rejects_dir / "olist_order_reviews_dataset.rejects.csv")
    assert [(r["file"], r["line"]) for r in rejected] == [(REVIEWS_FILE, "4"), (REVIEWS_FILE, "5")]
    assert rejected[0]["record"].startswith(f"{REVIEW_B},{ORDER},4,,chegou bem, recomendo,")
    assert report.rejects_files == [rejects_dir / "olist_order_reviews_dataset.rejects.csv"]
    assert "2 rejected rows" in report.describe()


def test_headers_are_matched_by_name_and_zip_prefixes_are_kept_as_text(engine, tmp_path):
    # Arrange: columns in another order, one unknown extra column, mixed quoting, a 4-digit zip
    csv_dir = tmp_path / "kaggle"
    write(csv_dir / CUSTOMERS_FILE, (
        "customer_state,customer_city,extra,customer_zip_code_prefix,customer_unique_id,customer_id\n"
        f'SP,"sao paulo",x,01310,{"1" * 32},{"a" * 32}\n'
        f'"RJ","rio de janeiro, centro",y,"2010",{"2" * 32},{"b" * 32}\n'
    ))

    # Act
    report = seed_from_csv(engine, csv_dir, rejects_dir=tmp_path / "rejects")

    # Assert
    assert report.rows["customers"] == 2 and report.total_rejected == 0
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select customer_id, customer_zip_code_prefix, customer_city, customer_state from customers order by customer_id"
        )).all()
    assert [tuple(r) for r in rows] == [("a" * 32, "01310", "sao paulo", "SP"), ("b" * 32, "2010", "rio de janeiro, centro", "RJ")]


def test_geolocation_without_ids_gets_surrogate_keys_and_keeps_duplicate_rows(engine, tmp_path):
    csv_dir = tmp_path / "kaggle"
    line = "01037,-23.54562128115268,-46.63929204800168,sao paulo,SP\n"
    write(csv_dir / "olist_geolocation_dataset.csv", (
        "geolocation_zip_code_prefix,geolocation_lat,geolocation_lng,geolocation_city,geolocation_state\n" + line + line
        + "99990,-28.329,-51.769,são josé,RS\n"
    ))

    report = seed_from_csv(engine, csv_dir, rejects_dir=tmp_path / "rejects")

    assert report.rows["geolocation"] == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_city from geolocation order by geolocation_id"
        )).all()
    assert [tuple(r) for r in rows] == [
        (1, "01037", -23.54562128115268, "sao paulo"), (2, "01037", -23.54562128115268, "sao paulo"), (3, "99990", -28.329, "são josé"),
    ]


def test_values_that_do_not_fit_or_are_not_utf8_are_rejected(engine, tmp_path):
    # Arrange: a 3-letter state, a missing customer_id, an invalid UTF-8 byte, and one good row
    csv_dir, rejects_dir = tmp_path / "kaggle", tmp_path / "rejects"
    header = b"customer_id,customer_unique_id,customer_zip_code_prefix,customer_city,customer_state\n"
    body = (
        f"{'a' * 32},{'1' * 32},01310,sao paulo,SPX\n".encode()
        + f",{'2' * 32},01310,sao paulo,SP\n".encode()
        + f"{'c' * 32},{'3' * 32},01310,s".encode() + b"\xff" + b"o paulo,SP\n"
        + f"{'d' * 32},{'4' * 32},01310,sao paulo,SP\n".encode()
    )
    csv_dir.mkdir()
    (csv_dir / CUSTOMERS_FILE).write_bytes(header + body)

    # Act
    report = seed_from_csv(engine, csv_dir, rejects_dir=rejects_dir)

    # Assert
    assert report.rows["customers"] == 1
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "customer_state has 3 characters, the column holds 2"),
        (3, "customer_id is required but empty"),
        (4, "not valid UTF-8"),
    ]
    raw = (rejects_dir / "olist_customers_dataset.rejects.csv").read_bytes()
    assert b"s\xffo paulo" in raw  # the bad byte is kept as it was


def test_a_file_whose_header_lacks_a_column_is_skipped_with_a_note(engine, tmp_path):
    csv_dir = tmp_path / "kaggle"
    write(csv_dir / "olist_sellers_dataset.csv", f"seller_id,seller_city,seller_state\n{'a' * 32},curitiba,PR\n")

    report = seed_from_csv(engine, csv_dir, rejects_dir=tmp_path / "rejects")

    assert report.rows["sellers"] == 0
    assert "olist_sellers_dataset.csv: header lacks seller_zip_code_prefix; file skipped" in report.notes


def test_seeding_refuses_tables_that_already_hold_rows(engine, tmp_path):
    csv_dir = tmp_path / "kaggle"
    reviews_csv(csv_dir)
    seed_from_csv(engine, csv_dir, rejects_dir=tmp_path / "rejects")

    with pytest.raises(ValueError, match="already hold rows: order_reviews"):
        seed_from_csv(engine, csv_dir, rejects_dir=tmp_path / "rejects")


def test_a_missing_folder_is_an_error(engine, tmp_path):
    with pytest.raises(FileNotFoundError):
        seed_from_csv(engine, tmp_path / "nowhere", rejects_dir=tmp_path / "rejects")
