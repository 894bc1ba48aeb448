"""The ``gridgov`` console script: the project's manage.py.

Sub-commands may be written with hyphens (``gridgov import-areas``); they map to
Django's management command names (``import_areas``).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "gridgov"
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
