"""Area boundaries as GeoJSON (WGS-84 / CGCS2000 longitude, latitude) and point-in-area lookup."""

from __future__ import annotations

import json
from dataclasses import dataclass

import shapely
from shapely.geometry import Point, mapping, shape

from gridgov.areas.errors import AreaErrorCode
from gridgov.core.errors import ApplicationError


@dataclass(frozen=True)
class Boundary:
    geojson: dict
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


def parse_boundary(value) -> Boundary | None:
    """A Polygon or MultiPolygon (bare, or as a Feature), given as a dict or JSON text; None if empty."""
    if value in (None, "", {}):
        return None
    try:
        data = json.loads(value) if isinstance(value, str) else value
        if isinstance(data, dict) and data.get("type") == "Feature":
            data = data.get("geometry")
        if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError("not a Polygon or MultiPolygon")
        geom = shape(data)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, shapely.errors.ShapelyError) as exc:
        raise ApplicationError(
            AreaErrorCode.INVALID_GEOMETRY,
            f"The boundary is not a valid GeoJSON Polygon or MultiPolygon: {exc}",
            fields={"geometry": ["invalid GeoJSON"]},
        ) from exc
    if geom.is_empty or not geom.is_valid:
        raise ApplicationError(
            AreaErrorCode.INVALID_GEOMETRY,
            f"The boundary is not a valid polygon: {shapely.is_valid_reason(geom)}",
            fields={"geometry": ["invalid polygon"]},
        )
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ApplicationError(
            AreaErrorCode.INVALID_GEOMETRY,
            "Boundary coordinates must be longitude, latitude in degrees (WGS-84).",
            fields={"geometry": ["coordinates out of range"]},
        )
    # Through JSON, so that the stored value and a freshly parsed one compare equal (lists, not tuples).
    return Boundary(json.loads(json.dumps(mapping(geom))), min_lng, min_lat, max_lng, max_lat)


def covers(geojson: dict, lng: float, lat: float) -> bool:
    return shape(geojson).covers(Point(lng, lat))
