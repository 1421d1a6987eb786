"""What keeps a flow run's process finite when its orchestrator is not there to end it: the Prefect
API gone for good (watchdog.py) and a SIGTERM whose handling waits on that API (sigterm.py). The
flow starts both with one call (guard.py); a batch marks its work with `in_flight()`."""
