"""The Gemini namer against the simulator, whose namer answers with the labels of the members'
majority topic (local_stack/gemini_sim/naming.py): the contract both sides read, requests counted by
the simulator apart from generation's."""

from __future__ import annotations

import httpx

from local_stack.gemini_sim import SimConfig, running_simulator
from local_stack.gemini_sim.topics import area_labels
from themegen.config.settings import Settings
from themegen.llm.gemini.namer import CLUSTERS_PER_REQUEST
from themegen.taxonomy import ClusterName, ClusterToName, InvalidName, open_namer

DELIVERY = ClusterToName(id="7", members=["late delivery", "配送の遅れ", "courier"], neighbours=["app crashes"],
                         languages=["en", "ja"])
CRASHES = ClusterToName(id="8", members=["アプリのクラッシュ", "app crashes"], neighbours=["late delivery"], languages=["ja"])


def settings_for(base_url: str, **overrides) -> Settings:
    values = {"gemini_backend": "api_key", "gemini_api_key": "k", "gemini_base_url": base_url, "max_attempts": 2}
    return Settings(**(values | overrides))


async def sim_stats(base_url: str) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{base_url}/_sim/stats")).json()


async def test_each_cluster_is_named_in_its_languages_in_one_request():
    async with running_simulator() as url:
        namer = await open_namer(settings_for(url))
        names = await namer.name([DELIVERY, CRASHES])
        stats = await sim_stats(url)
    assert names == {"7": ClusterName(en="delivery experience", ja="配送サービス"),
                     "8": ClusterName(ja=area_labels("app_crash")["ja"][0])}
    assert (stats["naming"]["requests"], stats["naming"]["clusters_named"], stats["requests"]) == (1, 2, 0)
    assert namer.usage.calls == 1 and namer.usage.input_tokens == stats["naming"]["input_tokens"] > 0


async def test_a_cluster_whose_neighbours_share_its_topic_gets_the_name_that_sets_it_apart():
    beside = DELIVERY.model_copy(update={"neighbours": ["配送サービス", "shipping speed"]})
    async with running_simulator() as url:
        names = await (await open_namer(settings_for(url))).name([beside])
    assert names["7"] == ClusterName(en="shipping speed", ja="配達スピード")


async def test_a_coarse_cluster_of_several_related_topics_gets_their_familys_name():
    group = ClusterToName(id="g1", members=["app crashes", "loading speed", "login problems", "app design"],
                          languages=["en", "ja"])
    async with running_simulator() as url:
        names = await (await open_namer(settings_for(url))).name([group])
    assert names["g1"] == ClusterName(en="app experience", ja="アプリの使い心地")


async def test_a_cluster_of_no_known_topic_is_named_by_its_most_frequent_member():
    unknown = ClusterToName(id="u", members=["quantum chromodynamics", "量子色力学"], languages=["en", "ja"])
    async with running_simulator() as url:
        names = await (await open_namer(settings_for(url))).name([unknown])
    assert names["u"] == ClusterName(en="quantum chromodynamics", ja="量子色力学")


async def test_many_clusters_go_in_several_requests():
    clusters = [DELIVERY.model_copy(update={"id": str(i)}) for i in range(CLUSTERS_PER_REQUEST + 1)]
    async with running_simulator() as url:
        names = await (await open_namer(settings_for(url))).name(clusters)
        stats = await sim_stats(url)
    assert len(names) == CLUSTERS_PER_REQUEST + 1 and all(isinstance(n, ClusterName) for n in names.values())
    assert stats["naming"]["requests"] == 2


async def test_the_name_model_is_the_generation_model_unless_set():
    async with running_simulator() as url:
        default = await open_namer(settings_for(url, model="gemini-2.5-flash"))
        chosen = await open_namer(settings_for(url, model="gemini-2.5-flash", taxonomy={"name_model": "gemini-2.5-pro"}))
    assert (default.settings.model, chosen.settings.model) == ("gemini-2.5-flash", "gemini-2.5-pro")


async def test_when_the_service_keeps_failing_every_cluster_says_why_and_nothing_raises():
    async with running_simulator(SimConfig(error_rate_500=1.0)) as url:
        names = await (await open_namer(settings_for(url))).name([DELIVERY, CRASHES])
        stats = await sim_stats(url)
    assert all(isinstance(n, InvalidName) and "ServerError" in str(n) for n in names.values())
    assert stats["naming"]["requests"] == 2  # max_attempts
