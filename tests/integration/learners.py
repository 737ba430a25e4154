"""Learners with sandboxes for integration tests, removed from the engine afterwards."""

import contextlib


@contextlib.contextmanager
def two_learners(django_db_blocker, suffix: str):
    """Users alice-<suffix> and bob-<suffix> with their sandboxes.

    Afterwards everything labelled with either sandbox leaves the engine and
    both users leave the database.
    """
    from django.contrib.auth import get_user_model

    from sandboxes import services

    users = get_user_model()
    with django_db_blocker.unblock():
        alice = users.objects.create_user(f"alice-{suffix}")
        bob = users.objects.create_user(f"bob-{suffix}")
        sandboxes = services.sandbox_for(alice), services.sandbox_for(bob)
    try:
        yield (alice, bob), sandboxes
    finally:
        for sandbox in sandboxes:
            services.remove_objects(sandbox.sid)
        with django_db_blocker.unblock():
            alice.delete()
            bob.delete()
