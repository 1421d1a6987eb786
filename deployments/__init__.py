"""What deploying needs besides prefect.yaml: `themegen setup` (setup.py) and the automation files."""
