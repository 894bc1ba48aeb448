from django.contrib.auth import views as auth_views
from django.urls import path

from gridgov.core import calendar_views, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChange.as_view(), name="password_change"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("calendar/", calendar_views.calendar_year, name="calendar"),
    path("calendar/<int:year>/", calendar_views.calendar_year, name="calendar_year"),
    path("calendar/days/", calendar_views.calendar_days_set, name="calendar_days_set"),
    path("calendar/<int:year>/publish/", calendar_views.calendar_year_publish, name="calendar_year_publish"),
    path("calendar/<int:year>/library/", calendar_views.calendar_year_library, name="calendar_year_library"),
]
