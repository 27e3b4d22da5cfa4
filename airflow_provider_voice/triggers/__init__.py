"""Airflow triggers of the voice provider."""
