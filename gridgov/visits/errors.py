from enum import StrEnum


class VisitErrorCode(StrEnum):
    INVALID_VISIT = "visit_invalid"
    UUID_REUSED = "visit_uuid_reused"  # the same client ID with a different visit
    ALREADY_CORRECTED = "visit_already_corrected"
    INVALID_PHOTO = "visit_photo_invalid"
    INVALID_POLICY = "visit_policy_invalid"
    INVALID_PERIOD = "visit_period_invalid"
