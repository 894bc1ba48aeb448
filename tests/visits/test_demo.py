"""The demo county's visits: loaded by `gridgov demo`, under Shangnan's rules, with 五必到 cases first in the demo
grid worker's day."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from gridgov.registry.models import Household
from gridgov.visits import demo, selectors
from gridgov.visits.models import Visit, VisitPolicy

pytestmark = pytest.mark.django_db


def test_the_demo_loads_visits():
    out = StringIO()
    started = timezone.now()  # the demo's history ends when it starts; on a busy machine the load takes minutes
    call_command("demo", scale="tiny", stdout=out)
    assert "Visits: " in out.getvalue()
    policy = VisitPolicy.objects.get()
    assert (policy.preset, policy.actor_name) == ("shangnan", "gridgov demo")
    visits = Visit.objects.all()
    now = timezone.now()
    assert visits.count() > Household.objects.count()
    assert visits.filter(visited_at__lt=started - dt.timedelta(days=demo.DEFAULT_DAYS)).count() == 0
    assert visits.filter(visited_at__gt=now).count() == 0
    assert visits.filter(kind="phone", household__household_class="red").exists()
    assert visits.filter(with_helper=True).count() == visits.filter(household__household_class="yellow",
                                                                    with_helper=True).count()
    assert not Household.objects.filter(created_at__gt=now - dt.timedelta(days=demo.DEFAULT_DAYS)).exists()
    worker = get_user_model().objects.get(username="grid_worker")
    day = selectors.due_list(actor=worker, horizon=None)
    titles = [r.case.title for r in day.onsite]
    assert set(titles) >= {title for _c, title, _d, _h in demo.DEMO_CASES}
    assert all(a.due_at <= b.due_at for a, b in zip(day.onsite, day.onsite[1:], strict=False))
    # Most 五必到 cases of the cases demo were answered by a visit that shows in their timeline.
    answered = Visit.objects.filter(kind="onsite")
    assert all(v.case.actions.filter(verb="visit", data={"visit_id": v.pk}).exists() for v in answered)
    lefts = [r.due.days_left for r in day.households]
    assert lefts and lefts == sorted(lefts)
    with pytest.raises(demo.VisitsNotEmpty):
        demo.load_visits()
