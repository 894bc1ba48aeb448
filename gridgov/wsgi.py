import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after the application has loaded the settings)

if not settings.SECRET_KEY_SET and not settings.DEBUG:
    raise ImproperlyConfigured("Set GRIDGOV_SECRET_KEY (or GRIDGOV_DEBUG=1 for a development server).")
