"""``gridgov webhook-source create NAME | list | revoke NAME``: video-AI systems that send signed alarms.

``create`` prints the new webhook secret on its last line, alone; the source's id (the last part of its
webhook URL) is on the line before. See "Video-AI webhooks" in docs/deploy.md for the signature scheme.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from gridgov.cases.management.commands.open311_key import SourceCommand
from gridgov.cases.models import Channel


class Command(SourceCommand):
    channel = Channel.VIDEO_AI
    label = "gridgov webhook-source"
    help = (
        "Manage video-AI systems that send signed alarms: create NAME (prints the webhook URL path, then the "
        "secret on its last line), list, revoke NAME."
    )

    def created_lines(self, source) -> list[str]:
        return [
            _('Created the video-AI source "%(name)s". Its webhook secret follows; it is shown only this once.')
            % {"name": source.name},
            _("Webhook: POST /api/v1/webhooks/video-ai/%(id)d") % {"id": source.pk},
        ]
