"""The price table and its arithmetic (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from themegen.pricing.cost import PRICES, Price, base_model, cost_usd, price_for


@pytest.mark.parametrize("name", [
    "gemini-2.5-flash",
    "gemini-2.5-flash-001",
    "gemini-2.5-flash@001",
    "models/gemini-2.5-flash",
    "publishers/google/models/gemini-2.5-flash-001",
    "projects/p/locations/asia-northeast1/publishers/google/models/gemini-2.5-flash",
    " Gemini-2.5-Flash ",
])
def test_versioned_and_qualified_names_resolve_to_the_base_entry(name):
    assert base_model(name) == "gemini-2.5-flash"
    assert price_for(name) == Price(input_usd_per_m=0.30, output_usd_per_m=2.50)


def test_flash_lite_is_not_mistaken_for_flash():
    assert price_for("gemini-2.5-flash-lite-001") == Price(input_usd_per_m=0.10, output_usd_per_m=0.40)


@pytest.mark.parametrize("name", ["gemini-9-ultra", "gemini-2.5-flash-preview-05-20", "gpt-4o", ""])
def test_unknown_models_have_no_price(name):
    assert price_for(name) is None
    assert cost_usd(name, 1_000_000, 1_000_000) is None


def test_cost_arithmetic():
    # 1M in at $0.30 + 200k out at $2.50 = 0.30 + 0.50
    assert cost_usd("gemini-2.5-flash", 1_000_000, 200_000) == pytest.approx(0.80)
    assert cost_usd("gemini-2.5-pro", 10_000, 0) == pytest.approx(0.0125)
    assert cost_usd("gemini-2.5-flash", 0, 0) == 0


def test_prices_depend_on_the_backend():
    assert cost_usd("gemini-2.0-flash", 1_000_000, 1_000_000, backend="api_key") == pytest.approx(0.50)
    assert cost_usd("gemini-2.0-flash", 1_000_000, 1_000_000, backend="vertex") == pytest.approx(0.75)
    for model in ("gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"):
        assert price_for(model, backend="vertex") == price_for(model, backend="api_key")
    # No Vertex price was found for it: unknown, not borrowed from the Gemini API table.
    assert price_for("gemini-3.8-flash", backend="vertex") is None


def test_introductory_prices_end_on_their_date():
    assert price_for("gemini-3.8-flash", on=date(2026, 12, 31)).input_usd_per_m == 0.75
    assert price_for("gemini-3.8-flash", on=date(2027, 1, 1)).input_usd_per_m == 1.50


def test_every_model_has_a_price_today_on_each_backend():
    for backend, table in PRICES.items():
        assert all(price_for(model, backend=backend) is not None for model in table), backend


def test_a_tier_pays_its_share_of_the_standard_price():
    standard = cost_usd("gemini-2.5-flash", 1_000_000, 200_000)
    assert cost_usd("gemini-2.5-flash", 1_000_000, 200_000, price_factor=0.5) == pytest.approx(0.5 * standard)
    assert cost_usd("no-such-model", 1, 1, price_factor=0.5) is None


@pytest.mark.parametrize("backend", ["api_key", "vertex"])
def test_the_embedding_model_bills_input_tokens_only_and_is_not_a_generation_model(backend):
    # Its name ends like a version suffix ("-001") yet is a model of its own, not "gemini-embedding".
    for name in ("gemini-embedding-001", "models/gemini-embedding-001", "publishers/google/models/gemini-embedding-001"):
        assert cost_usd(name, 2_000_000, 0, backend=backend) == pytest.approx(0.30)
    assert cost_usd("gemini-embedding-001", 1_000_000, 0, backend=backend, price_factor=0.5) == pytest.approx(0.075)
    assert "gemini-embedding-001" not in PRICES[backend]  # the estimate compares generation models only
