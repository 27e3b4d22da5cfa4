"""Airflow operators of the voice provider."""
