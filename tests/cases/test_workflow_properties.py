"""Property test of the workflow: random sequences of random actions, with random input, by random users of the
fixture (and the system and the public), on a few cases. Whatever happens:

- no case is ever in a state outside ``State``;
- an action that ``allowed_verbs`` does not offer the user always fails, and a failed action changes nothing;
- an action that succeeds moves the case to the transition's target;
- the timeline always replays: each action starts where the previous one ended, the last ends in the case's state;
- the rows kept beside the cases (reach, participants) are what a rebuild from scratch writes, and every user sees
  through them exactly the cases the definition of visibility gives (placed, coordinated, held or dispatched in
  their subtree, or held by or dispatched to their department).
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from PIL import Image

from gridgov.areas.scope import Perm, scope_for
from gridgov.cases import derived, selectors, services, workflow
from gridgov.cases.models import Case, CaseAction, CaseAssignment, CaseParticipant, CaseReach, Category, Channel, State
from gridgov.cases.workflow import BY_VERB, INTERNAL_VERBS, Party
from gridgov.core.errors import ApplicationError
from tests.cases.spec import ROLES, snapshot, water

pytestmark = pytest.mark.django_db

VERBS = [t.verb for t in workflow.TRANSITIONS]
ACTORS = [*ROLES, "system", "public"]
LIKELY_ACTORS = st.sampled_from(["superuser", "county_operator", "town_operator_a", "village_staff_a", "grid_worker_a",
                                 "dept_handler"])
NOTES = st.sampled_from(["", "  ", "已处理", "情况说明" * 3, "x" * 5001])
URGENCIES = st.sampled_from([None, "normal", "urgent", "critical", "soon"])


def visible_by_definition(user, pks: list[int]) -> set[int]:
    """The cases of ``pks`` that ``user`` may see, straight from the definition (not through the reach rows)."""
    scope = scope_for(user, Perm.CASE_VIEW)
    q = Q(pk__in=[])
    if scope.everything:
        q = Q()
    elif not scope.is_empty:
        q = scope.q("area__path") | scope.q("desk_area__path") | scope.q("holder_area__path")
        q |= Q(Exists(CaseAssignment.objects.filter(scope.q("area__path"), case=OuterRef("pk"))))
    staff = getattr(user, "staff", None)
    if staff is not None and staff.active and staff.department_id is not None:
        q |= Q(holder_department_id=staff.department_id) | Q(
            Exists(CaseAssignment.objects.filter(case=OuterRef("pk"), department_id=staff.department_id)))
    return set(Case.objects.filter(q, pk__in=pks).values_list("pk", flat=True))


def derived_rows(pks: list[int]):
    return (set(CaseReach.objects.filter(case_id__in=pks).values_list("case_id", "area_id", "department_id", "open")),
            set(CaseParticipant.objects.filter(case_id__in=pks).values_list("user_id", "case_id", "last_at")))


def photo() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 160, 60)).save(out, "JPEG")
    return SimpleUploadedFile("现场.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """The photos of a run go to the test's own directory (the runs roll back; their files would stay)."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")}}}


def _fresh(pk: int) -> Case:
    return Case.objects.select_related("area", "desk_area", "holder_area", "category").get(pk=pk)


def make_machine(tree, users):
    areas = [tree.county, tree.town_a, tree.town_b, tree.village_a1, tree.village_b1, tree.group_a1, tree.grid_a,
             tree.grid_a2, tree.grid_a3, tree.grid_b]
    department = water(tree)
    categories = list(Category.objects.filter(code__in=["risk_water", "forest_fire", "policy_enquiry",
                                                        "flood_evacuation"]))

    def params_for(verb: str):
        maybe_area = st.sampled_from([None, *areas])
        maybe_category = st.sampled_from([None, *categories])
        if verb in ("accept", "register"):
            return st.fixed_dictionaries({}, optional={"category": maybe_category, "urgency": URGENCIES})
        if verb in ("dispatch", "reassign"):
            return st.fixed_dictionaries({}, optional={
                "target_area": maybe_area, "target_department": st.sampled_from([None, department]),
                "assist_areas": st.lists(st.sampled_from(areas), max_size=2),
                "assist_departments": st.lists(st.just(department), max_size=1),
                "category": maybe_category, "urgency": URGENCIES})
        if verb == "close":
            return st.fixed_dictionaries({}, optional={"outcome": st.sampled_from(
                ["fixed", "not_responsible", "cannot_fix", "duplicate", "referred", "bogus"])})
        if verb == "rate":
            return st.fixed_dictionaries({"rating": st.sampled_from(["satisfied", "basically", "unsatisfied", ""])})
        if verb == "supervise":
            return st.fixed_dictionaries({}, optional={"deadline_at": st.sampled_from([
                None, timezone.now() - dt.timedelta(days=1), timezone.now() + dt.timedelta(days=2)])})
        if verb == "suspend":
            return st.fixed_dictionaries({}, optional={"review_on": st.sampled_from([
                None, timezone.localdate(), timezone.localdate() + dt.timedelta(days=20)])})
        if verb == "visit":
            return st.fixed_dictionaries({"visit_id": st.integers(1, 100)})
        # Every other action takes nothing; now and then it is given something anyway.
        return st.sampled_from([{}, {}, {}, {"outcome": "fixed"}])

    def valid_params(data, verb: str, case: Case, pks: list[int]) -> dict:
        below = [a for a in areas if a.path.startswith(case.desk_area.path)]
        if verb == "register" and case.category_id is None:
            return {"category": data.draw(st.sampled_from(categories), label="category")}
        if verb in ("dispatch", "reassign"):
            if data.draw(st.booleans(), label="to a department"):
                return {"target_department": department,
                        "assist_areas": data.draw(st.lists(st.sampled_from(below), max_size=1), label="assist")}
            return {"target_area": data.draw(st.sampled_from(below), label="target")}
        if verb == "close":
            return {"outcome": "fixed"} if case.state == State.REPORTED else {"outcome": "cannot_fix"}
        if verb == "rate":
            return {"rating": data.draw(st.sampled_from(["satisfied", "basically", "unsatisfied"]), label="rating")}
        if verb == "supervise":
            return {"deadline_at": timezone.now() + dt.timedelta(days=2)}
        if verb == "suspend":
            return {"review_on": timezone.localdate() + dt.timedelta(days=20)}
        if verb == "merge":
            others = [pk for pk in pks if pk != case.pk]
            return {"duplicate_of": _fresh(data.draw(st.sampled_from(others), label="original"))}
        if BY_VERB[verb].files_required:
            return {"uploads": [photo()]}
        return {}

    class CaseWorkflow(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()  # each run is rolled back at its end
            self.pks = [
                services.case_create(actor=users.grid_worker_a, channel=Channel.GRID_WORKER, description="路灯坏了",
                                     category=categories[0]).pk,
                services.case_create(actor=users.county_operator, channel=Channel.HOTLINE, description="停水三天",
                                     area=tree.grid_b, reporter_phone="13800001111").pk,
                services.case_create(actor=None, channel=Channel.SELF_REPORT, description="不知道在哪里").pk,
                services.case_create(actor=users.village_staff_a, channel=Channel.PETITION, description="邻里纠纷",
                                     area=tree.grid_a2, category=categories[1]).pk,
            ]

        def teardown(self):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

        @rule(data=st.data(), index=st.integers(0, 3), actor=st.one_of(st.sampled_from(ACTORS), LIKELY_ACTORS),
              note=NOTES)
        def act(self, data, index, actor, note):
            case = _fresh(self.pks[index])
            # Any action at all, or (as often) one the case's state allows, so that runs get deep into the loop.
            possible = [t.verb for t in workflow.TRANSITIONS if case.state in t.sources] or VERBS
            verb = data.draw(st.one_of(st.sampled_from(VERBS), st.sampled_from(possible)), label="verb")
            params = dict(data.draw(params_for(verb), label="params"))
            # Photos now and then, on any action (refused where the transition takes none), or a file that is none.
            uploads = data.draw(st.sampled_from(["none", "none", "photo", "text"]), label="uploads")
            if uploads != "none":
                params["uploads"] = [photo() if uploads == "photo" else
                                     SimpleUploadedFile("x.jpg", b"not a photo", content_type="image/jpeg")]
            if verb == "merge":
                others = [pk for pk in self.pks if pk != case.pk]
                params["duplicate_of"] = _fresh(data.draw(st.sampled_from(others), label="original"))
            user = getattr(users, actor) if actor in ROLES else None
            transition = BY_VERB[verb]
            if actor == "system":
                offered = workflow.allowed(transition, case, {Party.SYSTEM})
            elif actor == "public":
                offered = workflow.allowed(transition, case, {Party.PUBLIC})
            elif verb in INTERNAL_VERBS:
                offered = workflow.allowed(transition, case, workflow.parties(user, case))
            else:
                offered = verb in [t.verb for t in workflow.allowed_verbs(user, case)]
            before = snapshot()
            try:
                services.case_act(actor=user, case=case.pk, verb=verb, note=note, public=actor == "public", **params)
            except ApplicationError:
                assert snapshot() == before, f"a refused {verb} by {actor} changed something"
                return
            assert offered, f"{actor} took {verb} on a {case.state} case without it being offered"
            after = _fresh(case.pk)
            assert after.state == (transition.target or case.state)
            last = CaseAction.objects.filter(case=after).latest("at", "id")
            assert (last.verb, last.from_state, last.to_state) == (verb, case.state, after.state)

        @rule(data=st.data(), index=st.integers(0, 3))
        def advance(self, data, index):
            """A user to whom the case offers actions takes one of them with valid input: it must succeed (a merge
            may still meet a chain of duplicates that leads back to the case itself)."""
            case = _fresh(self.pks[index])
            offers = {role: [t for t in workflow.allowed_verbs(getattr(users, role), case)] for role in ROLES}
            offers = {role: found for role, found in offers.items() if found}
            if not offers:
                return
            role = data.draw(st.sampled_from(sorted(offers)), label="role")
            transition = data.draw(st.sampled_from(offers[role]), label="transition")
            user = getattr(users, role)
            params = valid_params(data, transition.verb, case, self.pks)
            before = snapshot()
            try:
                services.case_act(actor=user, case=case.pk, verb=transition.verb, note="说明", **params)
            except ApplicationError:
                assert transition.verb == "merge", f"{role} could not {transition.verb} a {case.state} case"
                assert snapshot() == before
                return
            assert _fresh(case.pk).state == (transition.target or case.state)

        # Valid steps twice as often as random ones, so that runs get deep into the loop.
        advance_again = advance

        @invariant()
        def states_are_known_and_timelines_replay(self):
            for pk in self.pks:
                case = Case.objects.get(pk=pk)
                assert case.state in State.values
                state = ""
                for from_state, to_state in case.actions.order_by("at", "id").values_list("from_state", "to_state"):
                    assert from_state == state
                    assert to_state in State.values
                    state = to_state
                assert state == case.state

        @invariant()
        def kept_rows_match_a_rebuild_and_the_definition(self):
            kept = derived_rows(self.pks)
            rollback = transaction.savepoint()
            derived.rebuild()
            rebuilt = derived_rows(self.pks)
            transaction.savepoint_rollback(rollback)
            assert kept == rebuilt
            for role in ROLES:
                user = get_user(role)
                seen = set(selectors.case_visible(actor=user).filter(pk__in=self.pks).values_list("pk", flat=True))
                assert seen == visible_by_definition(user, self.pks), role

    def get_user(role):
        user = getattr(users, role)
        user.__dict__.pop("_gridgov_scopes", None)  # posts may have changed in no run, but scopes are per request
        return user

    return CaseWorkflow


def test_random_actions_keep_the_workflow_sound(tree, users):
    machine = make_machine(tree, users)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None, derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
