"""Suite-wide ordering: unit, then integration, then browser tests.

Playwright's sync API keeps an event loop running in the main thread for the
life of the browser; async tests that ran after it would find a loop already
running. Browser tests therefore go last.
"""

TIER_ORDER = {"unit": 0, "integration": 1, "browser": 2}


def pytest_collection_modifyitems(items):
    def tier(item) -> int:
        parts = item.nodeid.split("/")
        return TIER_ORDER.get(parts[1] if len(parts) > 1 else "", 1)

    items.sort(key=tier)
