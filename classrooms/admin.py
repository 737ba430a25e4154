"""Classes, memberships, assignments and exercises in the admin.

Exercises saved here are checked like the editor checks them
(Exercise.clean). Learners' progress on lessons and exercises is under
Lessons > Progress (kind "exercise", number = the exercise's id). To make a
user a trainer here, add them to the "trainers" group on their user page.
"""

from django.contrib import admin
from django.db.models import Count

from classrooms.models import Assignment, Classroom, Exercise, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 0
    raw_id_fields = ["exercise"]


@admin.register(Classroom)
class ClassroomAdmin(admin.ModelAdmin):
    list_display = ["name", "shown_code", "owner", "ends_on", "learners", "created_at"]
    list_filter = ["ends_on", "owner"]
    search_fields = ["name", "code", "owner__username", "co_owners__username"]
    filter_horizontal = ["co_owners"]
    readonly_fields = ["code"]
    inlines = [AssignmentInline, MembershipInline]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(learner_count=Count("memberships"))
        )

    @admin.display(ordering="learner_count")
    def learners(self, obj) -> int:
        return obj.learner_count

    @admin.display(description="join code", ordering="code")
    def shown_code(self, obj) -> str:
        return obj.shown_code


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "classroom", "joined_at"]
    list_filter = ["classroom"]
    search_fields = ["user__username", "classroom__name", "classroom__code"]
    raw_id_fields = ["user"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["classroom", "kind", "lesson", "number", "exercise", "due_at"]
    list_filter = ["kind", "lesson", "classroom"]
    search_fields = ["classroom__name", "lesson", "exercise__title"]
    raw_id_fields = ["exercise"]


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "updated_at"]
    list_filter = ["owner"]
    search_fields = ["title", "instructions", "owner__username"]
