from django.test import RequestFactory

from gridgov.core.audit import client_ip


def request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = frozenset()
    assert client_ip(request("203.0.113.9", "10.9.9.9")) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_forwarded_client_counts(settings):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    assert client_ip(request("127.0.0.1", "10.20.30.40")) == "10.20.30.40"
    # A client that forges the header only adds to the left: the proxy's own entry is right-most.
    assert client_ip(request("127.0.0.1", "1.2.3.4, 10.20.30.40")) == "10.20.30.40"


def test_a_garbage_header_falls_back_to_the_proxy(settings):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    assert client_ip(request("127.0.0.1", "not-an-address")) == "127.0.0.1"
    assert client_ip(request("127.0.0.1", "")) == "127.0.0.1"
