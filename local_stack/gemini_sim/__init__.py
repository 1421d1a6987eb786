"""Local simulator of the Gemini REST API used by the themegen local stack and tests."""

from .config import SimConfig
from .server import create_app, running_simulator, start_simulator
from .themes import derive_themes
from .tokens import approx_tokens
from .vectors import topic_of_theme

__all__ = [
    "SimConfig",
    "approx_tokens",
    "create_app",
    "derive_themes",
    "running_simulator",
    "start_simulator",
    "topic_of_theme",
]
