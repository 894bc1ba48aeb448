from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection

def show(f):
    try:
        r = f()
        print(r.status_code, r.get("Content-Type"), r.content[:200])
    except Exception as e:
        print("EXC", type(e).__name__, str(e)[:200])

def test_probe(client, users, tree):
    client.force_login(users.town_admin_a)
    show(lambda: client.get("/api/v1/staff/abc"))
    show(lambda: client.get("/api/v1/areas?page=999"))
    show(lambda: client.get("/api/v1/audit?date_from=garbage"))
    show(lambda: client.get("/api/v1/audit"))
    show(lambda: client.get("/api/v1/nonexistent"))
    show(lambda: client.get("/api/v1/areas/" + tree.grid_a.code))
    show(lambda: client.get("/api/v1/me"))
    show(lambda: client.get(f"/api/v1/areas/{tree.village_a1.code}/roster"))
    show(lambda: client.get(f"/api/v1/areas?parent={tree.group_a1.code}"))
    with CaptureQueriesContext(connection) as c:
        client.get(f"/api/v1/areas?parent={tree.group_a1.code}")
    for q in c.captured_queries: print(q["sql"][:150])
    show(lambda: Client().get("/api/v1/openapi.json"))
    show(lambda: Client().get("/api/v1/levels"))
    show(lambda: client.post("/api/v1/posts/99999/end", "", content_type="application/json"))
    show(lambda: client.post("/api/v1/posts/99999/end"))
