"""Template helpers for the lab panel."""

from django import template

from engine.images import localize_dockerfile
from sandboxes.services.builds import sample_dir

register = template.Library()


@register.simple_tag
def sample_dockerfile() -> str:
    """The sample app's Dockerfile as the Build button builds it (configured images)."""
    path = sample_dir() / "Dockerfile"
    try:
        return localize_dockerfile(path.read_text())
    except OSError:
        return ""
