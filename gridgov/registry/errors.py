from enum import StrEnum


class RegistryErrorCode(StrEnum):
    INVALID_PERSON = "person_invalid"
    DUPLICATE_PERSON = "person_duplicate"
    INVALID_HOUSEHOLD = "household_invalid"
    INVALID_HOUSE = "house_invalid"
    INVALID_PLACE = "place_invalid"
    INVALID_TAG = "tag_invalid"
    INVALID_CLASS = "household_class_invalid"
    INVALID_IMPORT = "import_invalid"
