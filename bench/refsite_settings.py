"""Settings of the intake benchmark's server: the product's settings, with the reference URLconf.

``bench/bench_cases_intake.py`` starts gunicorn with ``DJANGO_SETTINGS_MODULE=bench.refsite_settings`` so that
the same server, in the same run, answers the product's URLs and the two reference endpoints of ``bench.refsite``
(which are not part of the product's URLs).
"""

from gridgov.settings import *  # noqa: F403  (the product's settings, unchanged but for the URLconf)

ROOT_URLCONF = "bench.refsite"
