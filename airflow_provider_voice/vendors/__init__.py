"""Vendor clients: plain Python (no Airflow import), one package per vendor, sync and async."""
