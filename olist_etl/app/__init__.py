"""The command line and the demo: the only part of olist_etl that reaches up into flows/ and tasks/."""
