"""``gridgov rotate-field-key``: re-seals sensitive fields under the current key and cipher.

Usage: set GRIDGOV_FIELD_KEY to the new key and GRIDGOV_FIELD_KEY_OLD to the old one (and, to change the
cipher, GRIDGOV_FIELD_CIPHER=sm4-gcm), restart the application with them, then run this command. Every
person whose ID number or phone is sealed under another key or cipher is re-sealed and gets new search
hashes (they derive from the key), 1,000 persons per transaction, so the command can be stopped and run
again. Until it has finished, exact search by ID number or phone misses the persons not yet done.
"""

from __future__ import annotations

import time

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridgov.core import audit, crypto
from gridgov.registry import services
from gridgov.registry.models import Person

SEALED_FIELDS = ("id_number_sealed", "id_number_hash", "id_number_masked", "phone_sealed", "phone_hash",
                 "phone_masked")


def stale_q() -> Q:
    """Persons with a value sealed under another key or cipher than the current ones."""
    prefix = f"v1:{crypto.cipher_name()}:{crypto.current_key().key_id}:"
    stale = Q()
    for name in ("id_number_sealed", "phone_sealed"):
        stale |= ~Q(**{name: ""}) & ~Q(**{f"{name}__startswith": prefix})
    return stale


class Command(BaseCommand):
    help = gettext_lazy(
        "Re-seal ID numbers and phones under the current GRIDGOV_FIELD_KEY and GRIDGOV_FIELD_CIPHER (the old key "
        "in GRIDGOV_FIELD_KEY_OLD), recomputing their search hashes, 1,000 persons per transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help=gettext_lazy("persons per transaction"))
        parser.add_argument("--dry-run", action="store_true", help=gettext_lazy("only count what needs it"))

    def handle(self, *args, batch_size=1000, dry_run=False, **options):
        crypto.reset_caches()
        batch_size = max(1, batch_size)
        key_id, cipher = crypto.current_key().key_id, crypto.cipher_name()
        todo = Person.objects.filter(stale_q()).count()
        self.stdout.write(_("%(n)d persons to re-seal under key %(key)s with %(cipher)s.") % {
            "n": todo, "key": key_id, "cipher": cipher})
        columns = self._stale_columns()
        columns = {column: qs for column, qs in columns.items() if qs.exists()}
        for (label, field), qs in columns.items():
            self.stdout.write(_("%(n)d values of %(column)s to re-seal.") % {"n": qs.count(),
                                                                            "column": f"{label}.{field}"})
        if dry_run:
            return
        resealed_columns = {f"{label}.{field}": self._reseal_column(qs, field, batch_size)
                            for (label, field), qs in columns.items()}
        extra = {"columns": resealed_columns} if resealed_columns else {}
        if not todo:
            if resealed_columns:
                audit.record(actor="gridgov rotate-field-key", action="crypto.rotate", data={
                    "key_id": key_id, "cipher": cipher, "resealed": 0, **extra})
            return
        done = 0
        unreadable: list[int] = []
        clashes: list[tuple[int, int]] = []
        last_pk = 0
        started = time.monotonic()
        while True:
            ids = list(Person.objects.filter(stale_q(), pk__gt=last_pk).order_by("pk")
                       .values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            last_pk = ids[-1]
            with transaction.atomic():
                persons = list(Person.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
                changed = []
                for person in persons:
                    try:
                        if self._reseal(person):
                            changed.append(person)
                    except crypto.DecryptionError:
                        unreadable.append(person.pk)
                hashes = {p.id_number_hash: p.pk for p in changed if p.id_number_hash}
                taken = dict(Person.objects.filter(id_number_hash__in=list(hashes))
                             .exclude(pk__in=[p.pk for p in changed]).values_list("id_number_hash", "pk"))
                for person in [p for p in changed if p.id_number_hash in taken]:
                    # Registered again under the new key while this one still had its old hash: leave it
                    # for a person to merge, rather than break the unique constraint.
                    clashes.append((person.pk, taken[person.id_number_hash]))
                    changed.remove(person)
                Person.objects.bulk_update(changed, SEALED_FIELDS)
            done += len(changed)
            rate = done / max(time.monotonic() - started, 1e-6)
            self.stderr.write(f"\r{_('re-sealed %(done)d of %(todo)d persons') % {'done': done, 'todo': todo}} "
                              f"({rate:.0f}/s)", ending="")
            self.stderr.flush()
        self.stderr.write("")
        audit.record(actor="gridgov rotate-field-key", action="crypto.rotate", data={
            "key_id": key_id, "cipher": cipher, "resealed": done, "unreadable": len(unreadable),
            "duplicates": len(clashes), **extra})
        self.stdout.write(_("Re-sealed %(n)d persons.") % {"n": done})
        problems = []
        if unreadable:
            problems.append(_(
                "%(n)d persons have values that no configured key opens (records %(ids)s): set "
                "GRIDGOV_FIELD_KEY_OLD to the key they were sealed with and run the command again."
            ) % {"n": len(unreadable), "ids": ", ".join(map(str, unreadable[:20]))})
        if clashes:
            problems.append(_(
                "%(n)d persons were registered twice during the rotation (record pairs %(pairs)s): merge them, "
                "then run the command again."
            ) % {"n": len(clashes), "pairs": ", ".join(f"{a}/{b}" for a, b in clashes[:20])})
        if problems:
            raise CommandError(" ".join(problems))

    @staticmethod
    def _stale_columns() -> dict:
        """The registered sealed columns of other apps, each as a query of its rows sealed under another key."""
        prefix = f"v1:{crypto.cipher_name()}:{crypto.current_key().key_id}:"
        return {
            (label, field): apps.get_model(label).objects.exclude(**{field: ""})
            .exclude(**{f"{field}__startswith": prefix}).order_by("pk")
            for label, field in crypto.sealed_columns()
        }

    def _reseal_column(self, qs, field: str, batch_size: int) -> int:
        """Re-seals one column in batches; a value no key opens is left as it is and reported."""
        done, last_pk, unreadable = 0, 0, []
        while True:
            rows = list(qs.filter(pk__gt=last_pk).only("pk", field)[:batch_size])
            if not rows:
                break
            last_pk = rows[-1].pk
            changed = []
            for row in rows:
                try:
                    setattr(row, field, crypto.encrypt(crypto.decrypt(getattr(row, field))))
                    changed.append(row)
                except crypto.DecryptionError:
                    unreadable.append(row.pk)
            with transaction.atomic():
                type(rows[0]).objects.bulk_update(changed, [field])
            done += len(changed)
        if unreadable:
            self.stderr.write(_("%(n)d values of %(field)s could not be opened with any configured key.")
                              % {"n": len(unreadable), "field": field})
        return done

    @staticmethod
    def _reseal(person: Person) -> bool:
        """Re-seals the person's ID number and phone under the current key, as the services seal them."""
        changed = False
        if person.id_number_sealed and crypto.needs_reseal(person.id_number_sealed):
            number = crypto.decrypt(person.id_number_sealed)
            identity = services.Identity(person.id_type, number, None, "", ())
            services._seal_identity(person, identity)
            changed = True
        if person.phone_sealed and crypto.needs_reseal(person.phone_sealed):
            services._seal_phone(person, crypto.decrypt(person.phone_sealed))
            changed = True
        return changed
