"""The API's page-number pagination, with bounds that every database can hold in an OFFSET."""

from ninja import Field, Schema
from ninja.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=1_000_000)
        page_size: int | None = Field(None, ge=1, le=1_000)
