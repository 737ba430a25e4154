from django.urls import include, path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    # Before Django's own: the same sign-in, with attempts limited.
    path("login/", views.SignInView.as_view(), name="login"),
    path("", include("django.contrib.auth.urls")),
]
