from django.urls import path

from classrooms.views import editor, learner, trainer

app_name = "classrooms"
urlpatterns = [
    path("", trainer.index, name="index"),
    path("join/", learner.join, name="join"),
    path("new/", trainer.create, name="create"),
    path("exercises/new/", editor.new, name="exercise_new"),
    path("exercises/try/", editor.try_checks, name="exercise_try"),
    path("exercises/<int:exercise_id>/", editor.edit, name="exercise_edit"),
    path("exercises/<int:exercise_id>/delete/", editor.delete, name="exercise_delete"),
    path("<int:classroom_id>/", trainer.detail, name="detail"),
    path("<int:classroom_id>/edit/", trainer.edit, name="edit"),
    path("<int:classroom_id>/code/", trainer.new_code, name="new_code"),
    path("<int:classroom_id>/delete/", trainer.delete, name="delete"),
    path("<int:classroom_id>/co-owners/", trainer.add_co_owner, name="add_co_owner"),
    path(
        "<int:classroom_id>/co-owners/<int:user_id>/remove/",
        trainer.remove_co_owner,
        name="remove_co_owner",
    ),
    path("<int:classroom_id>/assignments/", trainer.assign, name="assign"),
    path(
        "<int:classroom_id>/assignments/<int:assignment_id>/remove/",
        trainer.unassign,
        name="unassign",
    ),
    path(
        "<int:classroom_id>/assignments/<int:assignment_id>/",
        learner.exercise,
        name="exercise",
    ),
    path(
        "<int:classroom_id>/assignments/<int:assignment_id>/check/",
        learner.check,
        name="exercise_check",
    ),
    path(
        "<int:classroom_id>/assignments/<int:assignment_id>/hint/",
        learner.hint,
        name="exercise_hint",
    ),
    path(
        "<int:classroom_id>/assignments/<int:assignment_id>/solution/",
        learner.solution,
        name="exercise_solution",
    ),
    path("<int:classroom_id>/dashboard/", trainer.board, name="dashboard"),
    path("<int:classroom_id>/dashboard.csv", trainer.board_csv, name="dashboard_csv"),
    path("<int:classroom_id>/learners/<int:user_id>/", trainer.learner, name="learner"),
    path(
        "<int:classroom_id>/learners/<int:user_id>/remove/",
        trainer.remove_learner,
        name="remove_learner",
    ),
]
