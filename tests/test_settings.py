"""Settings from the environment; passwords never shown."""

from __future__ import annotations

from datetime import timedelta

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
