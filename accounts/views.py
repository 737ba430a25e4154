from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import limits
from accounts.forms import SignUpForm


def _next_url(request: HttpRequest) -> str:
    # Only ever send the new user back to a page of this site.
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def _signup_page(request: HttpRequest, form, status: int = 200, refusal: str = "") -> HttpResponse:
    return render(
        request,
        "accounts/signup.html",
        {
            "form": form,
            "next": request.POST.get("next") or request.GET.get("next", ""),
            "refusal": refusal,
        },
        status=status,
    )


CLOSED = "Sign-up is closed on this site: ask your trainer for an account."
TOO_MANY = "Too many accounts were created from your network in the last hour: try again later."


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign it in straight away."""
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    if limits.signup_mode() == "closed":
        return _signup_page(request, None, 403 if request.method == "POST" else 200, CLOSED)
    if not limits.signups_left(request):
        return _signup_page(request, None, 429, TOO_MANY)
    form = SignUpForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        if not limits.take_signup(request):
            return _signup_page(request, None, 429, TOO_MANY)
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if form.classroom is not None:
            _join_at_signup(request, user, form.classroom)
        return redirect(_next_url(request))
    return _signup_page(request, form)


def _join_at_signup(request: HttpRequest, user, classroom) -> None:
    from classrooms.joining import join  # deferred: accounts loads before classrooms

    join(user, classroom)
    messages.success(request, f"Welcome! You are in the class {classroom.name}.")


class SignInView(LoginView):
    """Django's sign-in, refusing attempts on a locked user name or address."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        if limits.login_locked(request, username):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, limits.lockout_message())
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        limits.login_failed(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)
