from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Checks"

    def ready(self) -> None:
        # Every check registers itself on import; a duplicate name stops start-up.
        from checks.base import vocabulary

        vocabulary()
