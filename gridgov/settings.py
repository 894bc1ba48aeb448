"""One settings module; every deployment value comes from a GRIDGOV_* environment variable."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"GRIDGOV_{name}", default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name, "1" if default else "0").strip().lower()
    return value in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"GRIDGOV_{name} must be an integer, got {raw!r}") from exc


def env_map(name: str) -> dict[str, str]:
    """``key=value`` pairs separated by commas (``fire=forest_fire, *=risk_safety``); keys in lower case."""
    pairs = [item.strip() for item in env(name).split(",") if item.strip()]
    if any(item.count("=") != 1 or not all(part.strip() for part in item.split("=")) for item in pairs):
        raise ImproperlyConfigured(f"GRIDGOV_{name} must be key=value pairs separated by commas, got {env(name)!r}")
    return {key.strip().lower(): value.strip() for key, value in (item.split("=") for item in pairs)}


DEBUG = env_bool("DEBUG")
TESTING = env_bool("TESTING")  # the test suite: production settings without the HTTPS redirect
DATA_DIR = Path(env("DATA_DIR", str(PROJECT_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Without GRIDGOV_SECRET_KEY, management commands (migrate, makemigrations, check) still run with a key
# Django itself flags as insecure (`check --deploy`: security.W009); serving refuses it (gridgov/wsgi.py).
SECRET_KEY_SET = bool(env("SECRET_KEY"))
SECRET_KEY = env("SECRET_KEY") or "django-insecure-dev-only-set-GRIDGOV_SECRET_KEY-in-production"

ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "ninja",
    "axes",
    "huey.contrib.djhuey",
    "gridgov.core",
    "gridgov.areas",
    "gridgov.registry",
    "gridgov.cases",
    "gridgov.visits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "gridgov.core.middleware.RejectNulMiddleware",
    "gridgov.core.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "gridgov.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gridgov.core.middleware.RequestContextMiddleware",
    "gridgov.core.middleware.PasswordExpiryMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gridgov.urls"
WSGI_APPLICATION = "gridgov.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gridgov.core.context_processors.gridgov",
                "gridgov.areas.context_processors.navigation",
                "gridgov.cases.context_processors.navigation",
            ],
        },
    }
]

# Database: the embedded SQLite file under the data directory by default, PostgreSQL in production.
DATABASE_URL = env("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'gridgov.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Authentication and the 等保2.0 baseline.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
PASSWORD_HISTORY_SIZE = 5
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "gridgov.core.passwords.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "gridgov.core.passwords.PasswordHistoryValidator", "OPTIONS": {"history": PASSWORD_HISTORY_SIZE}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_MAX_AGE_DAYS = env_int("PASSWORD_MAX_AGE_DAYS", 90)  # 0 disables expiry
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "gridgov.core.views.locked_out"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "gridgov.core.audit.client_ip"
# Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses, e.g. 127.0.0.1).
TRUSTED_PROXIES = frozenset(a.strip() for a in env("TRUSTED_PROXIES").split(",") if a.strip())

SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30) * 60
SESSION_SAVE_EVERY_REQUEST = True  # the age counts from the last request: an idle timeout
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 12)

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", not TESTING)
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Content Security Policy: everything from this server, nothing inline.
MAP_TILE_URL = env("MAP_TILE_URL")  # e.g. a 天地图 or intranet tile server; empty: no tiles
_tile_origin = "/".join(MAP_TILE_URL.split("/")[:3]) if MAP_TILE_URL.startswith("http") else ""
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"] + ([_tile_origin] if _tile_origin else []),
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Internationalisation: Chinese by default, English switchable.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(DATA_DIR / "static")))
NODE_MODULES = PROJECT_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/alpinejs", NODE_MODULES / "@alpinejs" / "csp" / "dist"),
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
]
STATICFILES_DIRS = [d for d in STATICFILES_DIRS if (d[1] if isinstance(d, tuple) else d).exists()]
MEDIA_ROOT = DATA_DIR / "media"

# Background work: huey on SQLite by default, Redis when GRIDGOV_REDIS_URL is set.
if env("REDIS_URL"):
    HUEY = {"huey_class": "huey.RedisHuey", "name": "gridgov", "url": env("REDIS_URL"), "immediate": False}
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "gridgov",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": DEBUG or TESTING,
    }

# Sensitive fields at rest (ID numbers, phones): see gridgov/core/crypto.py and docs/deploy.md.
FIELD_KEY = env("FIELD_KEY")  # 32 random bytes, base64; required in production
FIELD_KEY_OLD = env("FIELD_KEY_OLD")  # the previous key, readable during a rotation
FIELD_CIPHER = env("FIELD_CIPHER", "aes-256-gcm")  # or sm4-gcm (国密)

# Area codes: digits a sub-village level (组, 片, 联防组) adds to its parent's code, unless its level says.
AREA_SEQUENCE_WIDTH = env_int("AREA_SEQUENCE_WIDTH", 3)

# Cases: deadlines, the overdue sweep, uploads, duplicate suggestions, webhooks.
CASE_DEFAULT_DEADLINE_DAYS = env_int("CASE_DEFAULT_DEADLINE_DAYS", 3)  # a case filed without a category
CASE_WARN_HOURS = env_int("CASE_WARN_HOURS", 24)  # warn this long before the deadline
CASE_ESCALATION_GRACE_DAYS = env_int("CASE_ESCALATION_GRACE_DAYS", 2)  # working days overdue before escalating
CASE_UPLOAD_MAX_MB = env_int("CASE_UPLOAD_MAX_MB", 10)
CASE_DUPLICATE_RADIUS_M = env_int("CASE_DUPLICATE_RADIUS_M", 200)
CASE_DUPLICATE_DAYS = env_int("CASE_DUPLICATE_DAYS", 7)
WEBHOOK_MAX_SKEW_SECONDS = env_int("WEBHOOK_MAX_SKEW_SECONDS", 300)
# A video-AI alarm's event_type to a category code, over the defaults of gridgov/cases/webhooks.py ("*": the rest).
VIDEO_AI_EVENT_CATEGORIES = env_map("VIDEO_AI_EVENT_CATEGORIES")

# Case files and the resident's public pages (docs/deploy.md, "照片与附件的存储").
# Files go through Django's storage API: local files under MEDIA_ROOT by default, S3-compatible object storage
# (MinIO …) when GRIDGOV_S3_BUCKET is set (boto3: pip install 'gridgov[s3]'). MEDIA_ROOT is never served as
# such: every file is sent by a view that checks who may see it.
CASE_UPLOAD_MAX_FILES = env_int("CASE_UPLOAD_MAX_FILES", 9)  # per report or per action
CASE_UPLOAD_MAX_MEGAPIXELS = env_int("CASE_UPLOAD_MAX_MEGAPIXELS", 60)  # refused before decoding above this
CASE_PUBLIC_REPORTS_PER_HOUR = env_int("CASE_PUBLIC_REPORTS_PER_HOUR", 5)  # 随手拍 reports per client address
CASE_PUBLIC_LOOKUPS_PER_HOUR = env_int("CASE_PUBLIC_LOOKUPS_PER_HOUR", 60)  # tracking-code pages per address
CASE_PUBLIC_MISSES_PER_HOUR = env_int("CASE_PUBLIC_MISSES_PER_HOUR", 10)  # unknown tracking codes per address
S3_BUCKET = env("S3_BUCKET")
if S3_BUCKET:
    import importlib.util

    if importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured("GRIDGOV_S3_BUCKET is set but boto3 is missing: pip install 'gridgov[s3]'")
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("S3_ENDPOINT_URL") or None,  # MinIO: http://minio.internal:9000
            "access_key": env("S3_ACCESS_KEY") or None,
            "secret_key": env("S3_SECRET_KEY") or None,
            "region_name": env("S3_REGION") or None,
            "location": env("S3_PREFIX"),  # a key prefix inside the bucket, e.g. gridgov/
            "addressing_style": env("S3_ADDRESSING_STYLE", "path"),  # path style works with MinIO
            "signature_version": "s3v4",
            "querystring_auth": True,  # the bucket stays private; links are signed and expire
            "querystring_expire": env_int("S3_URL_EXPIRE_SECONDS", 300),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}  # under MEDIA_ROOT
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
}

NINJA_PAGINATION_PER_PAGE = 50
PRODUCT_NAME = _("Grid governance platform")
