"""The label keys dockerlab puts on engine objects: one home for each name.

Ownership is decided by the site (sandboxes/models.py writes these labels on
everything it creates, and the sandbox's image record backs them for images);
modules that read or filter by a label import its key from here.
"""

PREFIX = "org.dockerlab."

SANDBOX = "org.dockerlab.sandbox"
OWNER = "org.dockerlab.owner"
EXPIRES = "org.dockerlab.expires"
DEPLOYMENT = "org.dockerlab.deployment"

# A short-lived container a check starts (and removes) in a learner's sandbox.
PROBE = "org.dockerlab.probe"
# A short-lived container the start timing makes (and removes) in a sandbox.
TIMING = "org.dockerlab.timing"

COMPOSE_PROJECT = "org.dockerlab.compose.project"
COMPOSE_SERVICE = "org.dockerlab.compose.service"
COMPOSE_CONFIG = "org.dockerlab.compose.config"
