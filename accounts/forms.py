from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts import limits


class SignUpForm(UserCreationForm):
    """A username and a password; nothing else is needed to start learning.

    With DOCKERLAB_SIGNUP=code, a sign-up code too (from the trainer).
    """

    code = forms.CharField(
        label="Sign-up code",
        max_length=128,
        required=False,
        help_text="Your trainer gives you this code.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if limits.signup_mode() != "code":
            del self.fields["code"]
        else:
            self.fields["code"].required = True

    def clean_code(self) -> str:
        code = self.cleaned_data.get("code", "")
        if not limits.signup_code_accepted(code):
            raise forms.ValidationError("That sign-up code is not right: ask your trainer.")
        return code
