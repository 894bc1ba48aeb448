"""``gridgov open311-key create NAME | list | revoke NAME``: the API keys of Open311 clients.

``create`` prints the new key on its last line, alone, so that a script can take it with ``tail -n 1``.
The key is shown only then: the platform keeps its SHA-256 only.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.cases import sources
from gridgov.cases.models import Channel
from gridgov.core.errors import ApplicationError


class SourceCommand(BaseCommand):
    channel = Channel.OPEN311
    label = "gridgov open311-key"
    help = (
        "Manage the API keys of Open311 clients: create NAME (prints the new key on its last line), list, "
        "revoke NAME."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="register a system and print its key")
        create.add_argument("name")
        actions.add_parser("list", help="list the systems and the state of their keys")
        revoke = actions.add_parser("revoke", help="revoke a system's key at once")
        revoke.add_argument("name")

    def handle(self, *args, action: str, name: str = "", **options):
        try:
            getattr(self, f"do_{action}")(name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def do_create(self, name: str) -> None:
        source, plain = sources.source_create(actor=self.label, name=name, channel=self.channel)
        for line in self.created_lines(source):
            self.stdout.write(line)
        self.stdout.write(plain)  # the last line, alone

    def created_lines(self, source) -> list[str]:
        return [_('Created the Open311 client "%(name)s". Its API key follows; it is shown only this once.')
                % {"name": source.name}]

    def do_list(self, name: str) -> None:
        rows = list(sources.source_list(actor=self.label, channel=self.channel))
        if not rows:
            self.stdout.write(_("No outside systems yet."))
            return
        for source in rows:
            state = (_("revoked %(date)s") % {"date": f"{timezone.localtime(source.revoked_at):%Y-%m-%d %H:%M}"}
                     if source.revoked_at else _("active"))
            self.stdout.write(f"{source.pk}\t{source.name}\t{source.key_prefix}…\t"
                              f"{timezone.localtime(source.created_at):%Y-%m-%d %H:%M}\t{state}")

    def do_revoke(self, name: str) -> None:
        source = sources.source_get(actor=self.label, name=name, channel=self.channel)
        if source.revoked_at is not None:
            self.stdout.write(_('"%(name)s" was revoked already.') % {"name": source.name})
            return
        sources.source_revoke(actor=self.label, source=source)
        self.stdout.write(_('Revoked "%(name)s": its requests are refused from now on.') % {"name": source.name})


class Command(SourceCommand):
    pass
