from django.contrib import admin

from sandboxes.models import Sandbox


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ["sid", "user", "created_at", "expires_at"]
    search_fields = ["sid", "user__username"]
    readonly_fields = ["sid", "created_at"]
