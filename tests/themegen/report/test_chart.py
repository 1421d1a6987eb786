import base64
import re
import xml.etree.ElementTree as ET

import pytest

from themegen.report.chart import LATENCY_TITLE, THROUGHPUT_TITLE, latency_chart, markdown_image, throughput_chart
from themegen.domain.models import LatencyHistogram
from themegen.report.timeline import RunTimeline

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: ET.Element) -> list[list[float]]:
    """Each panel's bars as heights, read back from its path."""
    return [[-float(h) for h in re.findall(r"v(-[\d.]+)h", p.get("d"))] for p in svg.iter(f"{SVG}path")]


def texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text")]


def test_the_throughput_chart_draws_each_used_bucket_at_its_rate_and_names_the_environment():
    timeline = RunTimeline()
    timeline.add(0.0, 1.0, rows=100, http_429=0)
    timeline.add(1.0, 1.5, rows=100, http_429=4)
    svg = ET.fromstring(throughput_chart(timeline, "local-simulated"))
    assert svg.get("aria-label") == THROUGHPUT_TITLE and svg.find(f"{SVG}title").text == THROUGHPUT_TITLE
    rows, http_429 = bars(svg)
    assert len(rows) == 6 and rows[:4] == [rows[0]] * 4 and rows[4] == rows[5] == 2 * rows[0]  # 100 vs 200 rows/s
    assert len(http_429) == 2 and http_429[0] == http_429[1]
    labels = texts(svg)
    assert "measured in this run (local-simulated) · 4 HTTP 429s in all" in labels
    assert "HTTP 429s per 0.25 s" in labels and "0 s" in labels and "1 s" in labels


def test_the_latency_chart_has_a_bar_per_bucket_with_its_count():
    latency = LatencyHistogram()
    for ms in [5] * 30 + [400] * 9 + [4_000]:
        latency.add(ms)
    svg = ET.fromstring(latency_chart(latency, "GCP"))
    assert svg.get("aria-label") == LATENCY_TITLE
    (heights,) = bars(svg)
    assert len(heights) == 3 and heights[0] == pytest.approx(30 * heights[2])
    labels = texts(svg)
    assert {"30", "9", "1", "≤10 ms", "≤500 ms", "≤5 s", ">300 s"} <= set(labels)
    assert "p50 ≤ 10 ms, p95 ≤ 500 ms (bucket bounds)" in labels


def test_no_chart_without_data():
    assert throughput_chart(RunTimeline(), "GCP") is None
    assert latency_chart(LatencyHistogram(), "GCP") is None


def test_a_chart_is_a_markdown_image_whose_data_url_holds_the_svg():
    svg = latency_chart(LatencyHistogram(counts=[1] + [0] * 13), "a & <b>")
    image = markdown_image(LATENCY_TITLE, svg)
    alt, encoded = re.fullmatch(r"!\[(.+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", image).groups()
    assert alt == LATENCY_TITLE and base64.b64decode(encoded).decode() == svg
    assert "measured in this run (a & <b>)" in texts(ET.fromstring(svg))[1]  # escaped, still well-formed
