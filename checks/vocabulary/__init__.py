"""The checks lessons can use. Importing this package registers every one of them."""

from checks.vocabulary import (  # noqa: F401
    compose,
    containers,
    history,
    images,
    quiz,
    reach,
    registry,
    swarm,
    web,
)
