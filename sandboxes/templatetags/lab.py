"""Template helpers for the lab panel."""

from django import template

from engine.images import OFFICIAL, configured, localize_dockerfile
from engine.status import kit_builds
from sandboxes.services.builds import sample_dir

register = template.Library()


@register.simple_tag
def sample_dockerfiles() -> dict[str, str]:
    """Every Dockerfile of the sample app (Dockerfile first), as it would be built."""
    found = {}
    paths = sorted(sample_dir().glob("Dockerfile*"), key=lambda p: (p.name != "Dockerfile", p.name))
    for path in paths:
        try:
            found[path.name] = localize_dockerfile(path.read_text())
        except OSError:
            continue
    return found


@register.simple_tag
def command_images() -> list[dict[str, str]]:
    """The lesson images a one-off command may run in, with their official names."""
    images = configured()
    return [
        {"name": images.get(role, OFFICIAL[role]), "official": OFFICIAL[role]}
        for role in ("python", "mariadb", "registry")
    ]


@register.simple_tag
def sample_compose() -> str:
    """The sample app's compose.yaml, as `docker compose up` in the lab reads it."""
    try:
        return (sample_dir() / "compose.yaml").read_text()
    except OSError:
        return ""


@register.simple_tag
def sample_app() -> str:
    """The sample app's app.py, as the app.py editor starts from it."""
    try:
        return (sample_dir() / "app.py").read_text()
    except OSError:
        return ""


@register.simple_tag
def timing_image() -> str:
    """The lesson image the start timing runs (sandboxes.services.timing)."""
    return configured().get("python", OFFICIAL["python"])


@register.inclusion_tag("sandboxes/_kit_notice.html")
def kit_notice() -> dict:
    """A line saying which lesson images here are the classroom kit's own builds."""
    return {"names": kit_builds()}
