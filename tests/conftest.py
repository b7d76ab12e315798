"""Project-wide pytest configuration: loads the network-namespace lab plugin and the
simulated Windows hosts' fixtures."""

pytest_plugins = ["tests.lab.fixtures", "tests.lab.winrm_fixtures"]


import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# No timing assertions in tests: Hypothesis' per-example deadline (200 ms) failed a pure
# property test on a loaded 2-core machine (268 ms once, 26 ms on the retry).
settings.register_profile("patchdesk", deadline=None)
settings.load_profile("patchdesk")


@pytest.fixture(autouse=True)
def _lab_hosts_are_confirmed(request: pytest.FixtureRequest,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab test created its hosts itself: it accepts their new SSH keys, as a person
    would with --accept-new-host-keys ([12].10). Other tests get the product's default."""
    if request.node.get_closest_marker("lab") is not None:
        from app.remote.access import RemoteAccess

        monkeypatch.setattr(RemoteAccess, "accept_new_host_keys", True)
