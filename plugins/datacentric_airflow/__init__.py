"""Airflow adapters for the datacentric library: hooks build clients, operators stay thin.

Modules here import only Airflow at the top level; the domain library and its heavy dependencies
(pandas, Great Expectations, DVC, Feast) are imported inside `execute`, so DAG files parse fast.
`plugin.py` is the Airflow plugin: it registers the operators' extra links and the web app that
serves Great Expectations' Data Docs from the API server.
"""
