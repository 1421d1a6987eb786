"""themegen: six Gemini themes per BigQuery row, stored in Cloud Spanner (core library)."""
