from django.apps import AppConfig
from django.conf import settings


class SandboxesConfig(AppConfig):
    name = "sandboxes"

    def ready(self) -> None:
        # Several server processes sharing Redis share one set of per-learner
        # limits; one process counts in its own memory.
        if settings.DOCKERLAB_SLOTS_REDIS_URL:
            from sandboxes import slots

            slots.use_store(slots.RedisSlots(settings.DOCKERLAB_SLOTS_REDIS_URL))
