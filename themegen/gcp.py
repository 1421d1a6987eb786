"""Credentials for the Google clients: ADC in production, anonymous for local emulators."""

from __future__ import annotations

from google.auth.credentials import AnonymousCredentials, Credentials

from themegen.settings import Settings


def credentials(settings: Settings) -> Credentials | None:
    """None lets each client find Application Default Credentials itself."""
    return AnonymousCredentials() if settings.gcp_credentials == "anonymous" else None
