"""Airflow hooks, one per vendor connection type."""
