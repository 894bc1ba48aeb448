import json
import pytest
from django.test import Client
from tests.conftest import PASSWORD

def show(f):
    try:
        r = f()
        print(r.status_code, r.content[:300])
    except Exception as e:
        print("EXC", type(e).__name__, str(e)[:200])

def test_probe(client, users, tree):
    client.force_login(users.town_admin_a)
    show(lambda: client.post("/api/v1/areas", data="{not json", content_type="application/json"))
    show(lambda: client.post("/api/v1/areas", data="[1,2]", content_type="application/json"))
    show(lambda: client.post("/api/v1/areas", data="null", content_type="application/json"))
    show(lambda: client.get("/api/v1/areas/locate?lat=abc&lng=1"))
    show(lambda: client.get("/api/v1/areas/locate?lat=nan&lng=1"))
    show(lambda: client.get("/api/v1/areas?page=-1"))
    show(lambda: client.get("/api/v1/areas/" + "9" * 5000))
    show(lambda: client.get("/api/v1/areas/%00abc"))
    show(lambda: client.get("/api/v1/areas?parent=%00"))
    show(lambda: client.get("/api/v1/staff/99999999999999999999"))
    show(lambda: client.post("/api/v1/staff", {"name": "x", "area_code": tree.grid_a.code, "role": "grid_doctor", "yearly_stipend": 10**20}, content_type="application/json"))
    show(lambda: client.post("/api/v1/staff", {"name": "x" * 60, "area_code": tree.grid_a.code, "role": "grid_doctor"}, content_type="application/json"))
    show(lambda: client.patch("/api/v1/areas/" + tree.grid_a.code, {"name": "y" * 200}, content_type="application/json"))
    show(lambda: client.post("/api/v1/posts", {"staff_id": 10**30, "area_code": tree.grid_a.code, "role": "grid_doctor"}, content_type="application/json"))
    c = Client(enforce_csrf_checks=True)
    c.force_login(users.town_admin_a)
    show(lambda: c.post("/api/v1/areas", {"code": "1"}, content_type="application/json"))
    show(lambda: Client().post("/api/v1/auth/token", {"username": "a\x00b", "password": "x"}, content_type="application/json"))
    show(lambda: Client().post("/login/", {"username": "a\x00b", "password": "x"}))
