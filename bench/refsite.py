"""The intake benchmark's server: the product's URLs and reference endpoints measured beside them.

- ``GET /bench/trivial``: a trivial JSON response;
- ``POST /bench/insert``: inserts one row through the ORM (an audit event) and answers with its id.

Both pass through the product's whole middleware stack, like every other URL. The same two views are also served
under ``/bench/bare/`` by Django's handler with no middleware at all: the floor of any Django view on the machine at
hand (``bench.refsite_wsgi``). Used only by ``bench/bench_cases_intake.py`` through ``bench.refsite_settings``.
"""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@require_GET
def trivial(request):
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def insert(request):
    from gridgov.core.models import AuditEvent

    event = AuditEvent.objects.create(actor_name="bench", action="bench.insert", data={"size": len(request.body)})
    return JsonResponse({"id": event.pk}, status=201)


urlpatterns = [
    path("bench/trivial", trivial),
    path("bench/insert", insert),
    path("bench/bare/trivial", trivial),
    path("bench/bare/insert", insert),
    path("", include("gridgov.urls")),
]

