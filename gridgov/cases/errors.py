from enum import StrEnum


class CaseErrorCode(StrEnum):
    INVALID_CASE = "case_invalid"
    NOT_ALLOWED = "case_action_not_allowed"
    CONFLICT = "case_conflict"
    INVALID_TAXONOMY = "case_taxonomy_invalid"
    INVALID_ATTACHMENT = "case_attachment_invalid"
    INVALID_SIGNATURE = "webhook_signature_invalid"
