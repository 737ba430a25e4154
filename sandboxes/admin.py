from django.contrib import admin, messages

from sandboxes.errors import SandboxError
from sandboxes.models import Sandbox, SandboxImage
from sandboxes.services import reaper


class SandboxImageInline(admin.TabularInline):
    model = SandboxImage
    fields = ["image_id", "how", "recorded_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ["sid", "user", "created_at", "expires_at"]
    search_fields = ["sid", "user__username"]
    readonly_fields = ["sid", "created_at"]
    actions = ["clear_engine_objects"]
    inlines = [SandboxImageInline]

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


@admin.register(SandboxImage)
class SandboxImageAdmin(admin.ModelAdmin):
    """The app's record of whose image is whose: read here, written by the lab.

    Deleting a record only means a pull of that image is refused until the
    learner pushes it again; adding one by hand would vouch for an image, so
    this page does not offer it.
    """

    list_display = ["image_id", "sandbox", "how", "recorded_at"]
    list_filter = ["how"]
    search_fields = ["image_id", "sandbox__sid", "sandbox__user__username"]
    readonly_fields = ["sandbox", "image_id", "how", "recorded_at"]
    list_select_related = ["sandbox__user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
