from django.contrib import admin, messages

from sandboxes.errors import SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import reaper


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ["sid", "user", "created_at", "expires_at"]
    search_fields = ["sid", "user__username"]
    readonly_fields = ["sid", "created_at"]
    actions = ["clear_engine_objects"]

    @admin.action(description="Remove their containers, images, volumes and network")
    def clear_engine_objects(self, request, queryset):
        for sandbox in queryset:
            try:
                removed = reaper.remove_objects(sandbox.sid)
            except SandboxError as exc:
                self.message_user(
                    request, f"{sandbox.sid}: {exc.message}", messages.ERROR
                )
                continue
            self.message_user(request, f"{sandbox.sid}: {reaper.describe(removed)}.")
