from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "lessons"
    verbose_name = "Lessons"

    def ready(self) -> None:
        # Every lesson is validated once at start-up: a broken file stops the
        # site with a message naming it, instead of failing on a page later.
        from lessons import loader

        loader.load()
