"""The API's page-number pagination, with bounds that every database can hold in an OFFSET."""

from ninja import Field, Schema
from ninja.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=1_000_000)
        page_size: int | None = Field(None, ge=1, le=1_000)


class Counted:
    """Rows whose count is already known (a cheaper or capped count than the queryset's own): what the pagination
    slices and counts in its place."""

    def __init__(self, rows, count: int):
        self.rows, self._count = rows, count

    def all(self):
        return self

    def count(self) -> int:
        return self._count

    def __getitem__(self, key):
        return self.rows[key]

    def __len__(self) -> int:
        return self._count
