"""The intake benchmark's WSGI application: the product's, but ``/bench/bare/`` goes to Django's handler with an
empty middleware list (``gunicorn bench.refsite_wsgi:application``, settings ``bench.refsite_settings``)."""

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

from gridgov.wsgi import application as product  # sets Django up


class NoMiddlewareHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        self._middleware_chain = convert_exception_to_response(self._get_response)


bare = NoMiddlewareHandler()


def application(environ, start_response):
    handler = bare if environ.get("PATH_INFO", "").startswith("/bench/bare/") else product
    return handler(environ, start_response)
