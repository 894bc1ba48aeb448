"""Coordinates: GCJ-02 (the offset datum of Chinese phone maps) to WGS-84, and distances on the sphere.

Points are stored in WGS-84 (CGCS2000 differs by centimetres). Phone maps in China (高德, 腾讯, and the
location many phone browsers report) give GCJ-02, which is WGS-84 moved by a published obfuscation formula of
up to a few hundred metres; it has no closed-form inverse, so the inverse is found by fixed-point iteration of
the forward formula, to well under a millimetre. Outside mainland China GCJ-02 equals WGS-84.
"""

from __future__ import annotations

import math

# The Krasovsky 1940 ellipsoid the formula uses.
_A = 6378245.0
_EE = 0.00669342162296594323
EARTH_RADIUS_M = 6_371_000.0


def out_of_china(lng: float, lat: float) -> bool:
    """The rough rectangle outside which GCJ-02 applies no offset (the reference implementations' test)."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift(lng: float, lat: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    d_lng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
             + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
             + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lng, d_lat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """The forward formula: a WGS-84 point as a Chinese phone map shows it."""
    if out_of_china(lng, lat):
        return lng, lat
    d_lng, d_lat = _shift(lng, lat)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: float, lat: float, *, tolerance: float = 1e-9, max_steps: int = 30) -> tuple[float, float]:
    """The WGS-84 point whose GCJ-02 image is (lng, lat), by iterating the forward formula.

    ``tolerance`` is in degrees (1e-9° is about 0.1 mm); the iteration converges in a handful of steps.
    """
    if out_of_china(lng, lat):
        return lng, lat
    w_lng, w_lat = lng, lat
    for _ in range(max_steps):
        g_lng, g_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = g_lng - lng, g_lat - lat
        w_lng, w_lat = w_lng - e_lng, w_lat - e_lat
        if abs(e_lng) < tolerance and abs(e_lat) < tolerance:
            break
    return w_lng, w_lat


def distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on a sphere of the mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
