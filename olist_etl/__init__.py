"""olist-etl: sync the Olist transactional database into a star schema, with quality gates."""

__version__ = "0.1.0"
