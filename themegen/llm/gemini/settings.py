"""How the Gemini client reaches the service (THEMEGEN_GEMINI_*), nested in the root Settings as
`gemini`. What is generated (model, temperature, prompt) stays in the root: every backend shares it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class GeminiSettings(BaseModel):
    backend: Literal["vertex", "api_key"] = "vertex"
    location: str = "asia-northeast1"
    api_key: SecretStr | None = None
    base_url: str | None = Field(None, description="Gemini endpoint override (simulator)")
