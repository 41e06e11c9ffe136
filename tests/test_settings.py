"""Settings from the environment; passwords never shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from olist_etl.db import dialect_of, normalize_url
from olist_etl.settings import SecretUrl, Settings, mask_url


def test_defaults_live_under_olist_home(tmp_path):
    settings = Settings.from_env({"OLIST_HOME": str(tmp_path)})
    assert settings.source_url.reveal() == f"sqlite:///{tmp_path / 'source.sqlite'}"
    assert settings.warehouse_url is None
    assert settings.staging_url == (tmp_path / "staging").as_uri()
    assert settings.lookback == timedelta(minutes=10)


def test_environment_overrides(tmp_path):
    settings = Settings.from_env(
        {
            "OLIST_HOME": str(tmp_path),
            "OLIST_SOURCE_URL": "mysql://etl:pw@db:3306/olist",
            "OLIST_WAREHOUSE_URL": "postgresql://wh:pw@wh/dw",
            "OLIST_STAGING_URL": "s3://bucket/prefix",
            "OLIST_LOOKBACK_MINUTES": "30",
        }
    )
    assert settings.staging_url == "s3://bucket/prefix"
    assert settings.lookback == timedelta(minutes=30)
    assert dialect_of(settings.source_url) == "mysql"
    assert dialect_of(settings.warehouse_url) == "postgresql"


def test_password_is_masked_everywhere_but_reveal():
    url = SecretUrl("mysql+pymysql://etl:S3cret!pw@db.example:3306/olist")
    settings = Settings.from_env({"OLIST_SOURCE_URL": url.reveal(), "OLIST_WAREHOUSE_URL": "postgresql://u:An0ther@h/d"})
    shown = [str(url), repr(url), url.masked, repr(settings), str(settings.describe())]
    assert all("S3cret!pw" not in s and "An0ther" not in s for s in shown)
    assert "***" in str(url)
    assert url.reveal().endswith("S3cret!pw@db.example:3306/olist")


def test_mask_url_leaves_urls_without_password_alone():
    assert mask_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"
    assert mask_url("postgresql://postgres@/olist?host=/tmp/pg") == "postgresql://postgres@/olist?host=/tmp/pg"


def test_bare_schemes_get_the_shipped_drivers():
    assert normalize_url("mysql://u@h/d").drivername == "mysql+pymysql"
    assert normalize_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert normalize_url("redshift://u@h:5439/d").drivername == "redshift+redshift_connector"
    assert normalize_url("postgresql+psycopg2://u@h/d").drivername == "postgresql+psycopg2"


def test_dotenv_in_the_working_directory_is_read_without_overriding_the_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OLIST_STAGING_URL=s3://from-dotenv/x\nOLIST_LOOKBACK_MINUTES=25\n")
    monkeypatch.chdir(tmp_path)
    # set-then-delete registers the variable, so what load_dotenv writes is undone after the test
    monkeypatch.setenv("OLIST_STAGING_URL", "placeholder")
    monkeypatch.delenv("OLIST_STAGING_URL")
    monkeypatch.setenv("OLIST_LOOKBACK_MINUTES", "5")
    monkeypatch.setenv("OLIST_HOME", str(tmp_path))

    settings = Settings.from_env()

    assert settings.staging_url == "s3://from-dotenv/x"
    assert settings.lookback == timedelta(minutes=5)  # the real environment wins


def test_max_rejected_rows_defaults_to_zero_and_is_read_from_the_environment(tmp_path):
    assert Settings.from_env({"OLIST_HOME": str(tmp_path)}).max_rejected_rows == 0
    assert Settings.from_env({"OLIST_HOME": str(tmp_path), "OLIST_MAX_REJECTED_ROWS": ""}).max_rejected_rows == 0
    assert Settings.from_env({"OLIST_HOME": str(tmp_path), "OLIST_MAX_REJECTED_ROWS": " 25 "}).max_rejected_rows == 25


def test_max_rejected_rows_is_read_from_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OLIST_MAX_REJECTED_ROWS=3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLIST_MAX_REJECTED_ROWS", "placeholder")  # registered, so what load_dotenv writes is undone
    monkeypatch.delenv("OLIST_MAX_REJECTED_ROWS")
    monkeypatch.setenv("OLIST_HOME", str(tmp_path))

    assert Settings.from_env().max_rejected_rows == 3


@pytest.mark.parametrize("value", ["-1", "2.5", "many", "1e3"])
def test_a_bad_max_rejected_rows_names_the_variable_and_the_value(tmp_path, value):
    with pytest.raises(ValueError) as info:
        Settings.from_env({"OLIST_HOME": str(tmp_path), "OLIST_MAX_REJECTED_ROWS": value})

    assert str(info.value) == f"OLIST_MAX_REJECTED_ROWS must be a whole number >= 0, got {value!r}"
