"""Prefect tasks: one module per pipeline step."""
