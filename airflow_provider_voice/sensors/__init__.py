"""Airflow sensors of the voice provider."""
