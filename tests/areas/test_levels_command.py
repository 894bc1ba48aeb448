import pytest
from django.core.management import CommandError, call_command

from gridgov.areas.models import AreaLevel
from gridgov.core.models import AuditEvent


@pytest.mark.django_db
def test_preset_sets_levels_and_is_audited():
    call_command("levels", preset="luanchuan")
    assert list(AreaLevel.objects.values_list("name", "rank")) == [
        ("镇", "town"), ("社区", "village"), ("网格", "below_village")]
    assert AuditEvent.objects.filter(action="levels.configure").count() == 1


@pytest.mark.django_db
def test_bad_spec_is_refused_and_changes_nothing():
    with pytest.raises(CommandError, match="Bad level"):
        call_command("levels", spec="县:county,组:nonsense")
    assert AreaLevel.objects.count() == 0


def test_levels_cannot_change_once_areas_exist(tree):
    before = list(AreaLevel.objects.values_list("name", flat=True))
    with pytest.raises(CommandError, match="before areas exist"):
        call_command("levels", preset="zhouqu")
    assert list(AreaLevel.objects.values_list("name", flat=True)) == before
