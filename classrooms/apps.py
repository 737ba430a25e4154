from django.apps import AppConfig


class ClassroomsConfig(AppConfig):
    name = "classrooms"
    verbose_name = "Classes"

    def ready(self) -> None:
        # Deferred: receivers import models, which need the app registry ready.
        from classrooms import receivers

        receivers.connect()
