"""GCJ-02 to WGS-84 against the published reference points of the formula, and back; distances."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridgov.core.geo import distance_m, gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

# (WGS-84 lat, lng), (GCJ-02 lat, lng): the reference vectors of the eviltransform implementations.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_reference_points(wgs, gcj):
    (w_lat, w_lng), (g_lat, g_lng) = wgs, gcj
    assert wgs84_to_gcj02(w_lng, w_lat) == pytest.approx((g_lng, g_lat), abs=1e-9)
    back = gcj02_to_wgs84(g_lng, g_lat)
    assert back == pytest.approx((w_lng, w_lat), abs=1e-8)
    assert distance_m(*back, w_lng, w_lat) < 0.01  # within a centimetre


def test_the_offset_is_hundreds_of_metres_in_china():
    lng, lat = 110.918, 33.526  # 商南县城
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    assert 300 < distance_m(lng, lat, g_lng, g_lat) < 800


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (100.0, 60.0)])
def test_outside_china_nothing_moves(point):
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point == gcj02_to_wgs84(*point)


@given(lng=st.floats(73.5, 135.0), lat=st.floats(18.0, 53.5))
def test_round_trip_in_china(lng, lat):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat))
    assert distance_m(*back, lng, lat) < 0.01


def test_distances():
    assert distance_m(110.0, 33.0, 110.0, 34.0) == pytest.approx(math.pi / 180 * 6_371_000, rel=1e-9)
    assert distance_m(110.805, 33.505, 110.805, 33.505) == 0
    # The reference implementations' test: Shanghai to Beijing (GCJ-02 points) is 1,078,164 m on a sphere of
    # radius 6,378,137 m; the same great circle on the mean radius, scaled back.
    d = distance_m(121.531541859215, 31.17530398364597, 116.38404722455657, 39.91334545536069)
    assert d * 6_378_137 / 6_371_000 == pytest.approx(1_078_164, abs=1)
