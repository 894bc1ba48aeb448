from enum import StrEnum


class AreaErrorCode(StrEnum):
    INVALID_CODE = "area_invalid_code"
    CODE_TAKEN = "area_code_taken"
    INVALID_PARENT = "area_invalid_parent"
    INVALID_LEVEL = "area_invalid_level"
    CYCLE = "area_cycle"
    INVALID_GEOMETRY = "area_invalid_geometry"
    INVALID_IMPORT = "area_invalid_import"
    POST_CONFLICT = "post_conflict"
    INVALID_POST = "post_invalid"
    INVALID_STAFF = "staff_invalid"
