"""Cloud Spanner's per-commit mutation limit, which the shared pack_commits (themegen/sink/commits.py)
keeps each commit inside.

Spanner counts an insert_or_update as one mutation per column written (plus one per secondary
index entry) and a delete as one per key; 80,000 per commit is the hard limit. The emulator does
not enforce it, so we do, with a configurable lower budget (smaller commits also retry cheaper).
"""

SPANNER_MAX_MUTATIONS_PER_COMMIT = 80_000
