"""Errors of the classroom swarm, written for whoever runs the site."""


class SwarmError(Exception):
    """The classroom swarm could not be brought up, reached or read."""


class SwarmDisabled(SwarmError):
    """Orchestration is switched off (DOCKERLAB_SWARM=0)."""
