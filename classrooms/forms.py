"""Forms of the classrooms pages. Exercise fields are checked by classrooms.exercises."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from classrooms import exercises, items, roles
from classrooms.exercises import InvalidExercise
from classrooms.models import Classroom

MAX_DAYS = 2 * 366


def _default_end():
    return timezone.localdate() + timedelta(days=90)


class ClassroomForm(forms.ModelForm):
    class Meta:
        model = Classroom
        fields = ["name", "ends_on"]
        labels = {"name": "Name", "ends_on": "Last day"}
        help_texts = {
            "ends_on": "The join code works until the end of this day; learners keep their work."
        }
        widgets = {"ends_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.fields["ends_on"].initial = _default_end

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name or any(ord(char) < 0x20 for char in name):
            raise forms.ValidationError("Give the class a name on one line.")
        return name

    def clean_ends_on(self):
        ends_on = self.cleaned_data["ends_on"]
        today = timezone.localdate()
        if self.instance.pk is None and ends_on < today:
            raise forms.ValidationError("A new class cannot end in the past.")
        if ends_on > today + timedelta(days=MAX_DAYS):
            raise forms.ValidationError("A class may run for at most two years.")
        return ends_on


class CoOwnerForm(forms.Form):
    username = forms.CharField(label="Trainer's user name", max_length=150)

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name).first()
        if user is None or not roles.is_trainer(user):
            raise forms.ValidationError(
                f"There is no trainer called {name[:40]!r} on this site."
            )
        return user


class AssignForm(forms.Form):
    item = forms.ChoiceField(label="Assign")
    due_at = forms.DateTimeField(
        label="Due (UTC)",
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
        help_text="Optional. Assigning an item again changes its due time.",
    )

    def __init__(self, *args, exercises_of=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = items.choices(exercises_of)


class JoinForm(forms.Form):
    code = forms.CharField(
        label="Class code", max_length=64, help_text="Your trainer gives you this code."
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ExerciseForm(forms.Form):
    """The editor. Checks arrive as JSON (the page's rows write it; no script: type it)."""

    title = forms.CharField(max_length=exercises.MAX_TITLE + 50)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=exercises.MAX_INSTRUCTIONS + 1000,
        help_text="Markdown: **bold**, `code`, lists, fenced code blocks, links. HTML is shown "
        "as text.",
    )
    checks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        max_length=64 * 1024,
        help_text='As JSON: [{"check": "container_running", "with": {"name": "web"}}].',
    )
    hints = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=(exercises.MAX_HINT + 1) * exercises.MAX_HINTS + 200,
        help_text="One hint a line; learners reveal them one at a time.",
    )
    solution = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        required=False,
        max_length=8192,
        help_text="One docker command a line, as the lab runs them.",
    )

    def clean_checks(self):
        try:
            raw = json.loads(self.cleaned_data["checks"])
        except ValueError:
            raise forms.ValidationError(
                "The checks are not valid JSON: a list like "
                '[{"check": "image_exists", "with": {"image": "flask-app"}}].'
            ) from None
        return raw

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            cleaned = exercises.clean_exercise(
                data.get("title"),
                data.get("instructions"),
                data.get("checks"),
                _lines(data.get("hints", "")),
                _lines(data.get("solution", "")),
            )
        except InvalidExercise as exc:
            self.add_error(exc.field, exc.message)
            self.error_path = exc.path
            return data
        data.update(cleaned)
        return data

    @classmethod
    def initial_for(cls, exercise) -> dict:
        return {
            "title": exercise.title,
            "instructions": exercise.instructions,
            "checks": json.dumps(exercise.checks, indent=1),
            "hints": "\n".join(exercise.hints),
            "solution": "\n".join(exercise.solution),
        }
