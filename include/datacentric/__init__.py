"""Data-centric ML management: the domain library behind the Airflow project. Never imports airflow."""
