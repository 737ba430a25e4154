"""Learners' progress, quiz answers and lab history, readable in the admin."""

from django.contrib import admin

from lessons.models import LabAction, Progress, QuizAnswer


@admin.register(Progress)
class ProgressAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "lesson",
        "kind",
        "number",
        "state",
        "attempts",
        "hints_revealed",
        "solution_revealed",
        "done_at",
    ]
    list_filter = ["lesson", "kind", "state"]
    search_fields = ["user__username", "lesson"]


@admin.register(QuizAnswer)
class QuizAnswerAdmin(admin.ModelAdmin):
    list_display = ["user", "lesson", "question", "choice", "correct", "attempts", "answered_at"]
    list_filter = ["lesson", "correct"]
    search_fields = ["user__username", "lesson"]


@admin.register(LabAction)
class LabActionAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "command", "ok", "message"]
    list_filter = ["action", "ok"]
    search_fields = ["user__username", "command"]
    # The history is evidence for checks: it is read here, never edited.
    readonly_fields = [field.name for field in LabAction._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
