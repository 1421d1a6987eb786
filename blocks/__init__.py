"""Prefect blocks of themegen: `themegen_config.ThemegenConfig`, the run configuration a person may
change in the UI. The other blocks a deployment uses are prefect-gcp's and Prefect's own, saved under
the names the README's "Blocks" table gives."""
