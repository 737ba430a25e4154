from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """A username and a password; nothing else is needed to start learning."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
