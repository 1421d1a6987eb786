"""Credentials for the Google clients: ADC in production, anonymous for local emulators."""

from __future__ import annotations

from google.auth.credentials import AnonymousCredentials, Credentials
from google.oauth2.credentials import Credentials as TokenCredentials

from themegen.config.settings import Settings


def credentials(settings: Settings) -> Credentials | None:
    """None lets each client find Application Default Credentials itself."""
    return AnonymousCredentials() if settings.gcp_credentials == "anonymous" else None


def gemini_credentials(settings: Settings) -> Credentials | None:
    """Vertex AI credentials for google-genai, which signs every request with a token and finds none
    in AnonymousCredentials: "anonymous" (the local stack's simulator) gets a token that proves nothing."""
    return TokenCredentials(token="anonymous") if settings.gcp_credentials == "anonymous" else None
