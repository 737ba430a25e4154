from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts import limits


class SignUpForm(UserCreationForm):
    """A username and a password; nothing else is needed to start learning.

    With DOCKERLAB_SIGNUP=code, a sign-up code too (from the trainer): the
    site's code or a class's join code. With sign-up open, a class code may be
    given. A class code puts the new learner in that class (`classroom`, for
    the view to join once the account exists). Wrong codes count against the
    address like wrong codes on the join page.
    """

    code = forms.CharField(
        label="Sign-up code",
        max_length=128,
        required=False,
        help_text="Your trainer gives you this code.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.classroom = None
        mode = limits.signup_mode()
        if mode == "code":
            self.fields["code"].required = True
        elif mode == "open":
            self.fields["code"].label = "Class code (optional)"
            self.fields[
                "code"
            ].help_text = "From your trainer, to join their class as you sign up."
        else:
            del self.fields["code"]

    def clean_code(self) -> str:
        code = self.cleaned_data.get("code", "").strip()
        if limits.signup_mode() == "open" and not code:
            return code
        if self.request is not None and limits.join_locked(self.request):
            raise forms.ValidationError(limits.join_lockout_message())
        if limits.signup_mode() == "code" and limits.signup_code_accepted(code):
            self.classroom = limits.signup_classroom(code)
            return code
        from classrooms.joining import (
            JoinRefused,
            find_classroom,
        )  # deferred: app order

        try:
            self.classroom = find_classroom(code)
        except JoinRefused as exc:
            if self.request is not None:
                limits.join_failed(self.request)
            if limits.signup_mode() == "code" and exc.code == "wrong":
                raise forms.ValidationError(
                    "That sign-up code is not right: ask your trainer."
                ) from None
            raise forms.ValidationError(exc.message) from None
        return code
