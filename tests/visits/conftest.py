import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english(client, settings):
    """The assertions read the English messages; zh-Hans is the default language (pages and API too)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield
