from django.conf import settings


def gridgov(request):
    return {
        "PRODUCT_NAME": settings.PRODUCT_NAME,
        "MAP_TILE_URL": settings.MAP_TILE_URL,
        "LOGIN_FAILURE_LIMIT": settings.AXES_FAILURE_LIMIT,
    }
