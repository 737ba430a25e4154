"""One sandbox per learner: the id that namespaces and labels their engine objects.

`SandboxImage` is the app's own record of which image ids belong to a sandbox
(built, pushed or pulled through the lab). Labels inside an image's config
can come from whoever wrote that config; this table cannot, so ownership
decisions that data from outside could forge (a pull) are made from it.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandboxes import labels, naming


def _default_expiry():
    return timezone.now() + timedelta(hours=settings.DOCKERLAB_SANDBOX_TTL_HOURS)


class Sandbox(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sandbox"
    )
    sid = models.CharField(max_length=10, unique=True, default=naming.new_sid)
    created_at = models.DateTimeField(auto_now_add=True)
    # Slides forward while the learner is active; the reaper removes the
    # engine objects of sandboxes past it.
    expires_at = models.DateTimeField(default=_default_expiry)
    # The engine of the pool it lives on (engine/pool.py), chosen at creation
    # and kept; "" is the pool's default engine.
    engine = models.CharField(max_length=24, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.sid} ({self.user})"

    @property
    def network(self) -> str:
        return naming.network_name(self.sid)

    @property
    def expired(self) -> bool:
        return self.expires_at <= timezone.now()

    def labels(self) -> dict[str, str]:
        """The labels every engine object of this sandbox carries."""
        expires = self.expires_at.astimezone(UTC).replace(microsecond=0)
        return {
            labels.DEPLOYMENT: settings.DOCKERLAB_DEPLOYMENT,
            labels.SANDBOX: self.sid,
            labels.OWNER: str(self.user_id),
            labels.EXPIRES: expires.isoformat().replace("+00:00", "Z"),
        }

    def label_filter(self) -> dict[str, list[str]]:
        """An engine list filter matching only this sandbox's objects."""
        return {"label": [f"{labels.SANDBOX}={self.sid}"]}


class SandboxImage(models.Model):
    """An image id (the config digest) that the lab made or moved for a sandbox."""

    BUILT = "built"
    PUSHED = "pushed"
    PULLED = "pulled"
    HOW = [(BUILT, "built"), (PUSHED, "pushed"), (PULLED, "pulled")]

    sandbox = models.ForeignKey(Sandbox, on_delete=models.CASCADE, related_name="images")
    # "sha256:" and 64 hex digits: the engine's image id, which is the digest
    # of the image's config and so survives a push and a pull unchanged.
    image_id = models.CharField(max_length=71)
    how = models.CharField(max_length=6, choices=HOW)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sandbox", "image_id", "how"], name="one_record_per_image_and_way"
            )
        ]

    def __str__(self) -> str:
        return f"{self.image_id[:19]} {self.how} in {self.sandbox.sid}"
