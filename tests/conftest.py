import os
import time
from contextlib import contextmanager

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from ret_desktop.core.config import load_settings, prepare_data_dirs  # noqa: E402


class FakeClock:
    """A wall clock the test moves by hand, so TTL tests need no sleeping. It starts at the real time,
    so that records written by child processes (on the real clock) line up with it."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path):
    """Settings whose every path lies under a fresh RET_DATA_DIR, with the folders prepared."""
    result = load_settings({"RET_DATA_DIR": str(tmp_path / "data")})
    prepare_data_dirs(result)
    return result


@pytest.fixture
def app(tmp_path, qtbot):
    """The whole app (services, sign-in window, main window) on a fresh data folder, sign-in shown."""
    from ret_desktop.app import build_app

    built = build_app(tmp_path / "data", keyring_backend=None)
    built.login_window.show()
    yield built
    built.close()


@contextmanager
def signed_in_controller(data_dir, **environment: str):
    """A session controller with alice's session started, on ``data_dir`` (settings from
    ``environment`` besides it); at the end the session is wiped as sign-out does."""
    from ret_desktop.core.services import open_services
    from ret_desktop.gui.session import SessionController, SessionState

    services = open_services(load_settings({"RET_DATA_DIR": str(data_dir), **environment}), keyring_backend=None)
    controller = SessionController(services)
    info = services.sessions.create("alice")
    controller.start(SessionState(info, services.sessions.folder(info.session_id), "alice"))
    try:
        yield controller
    finally:
        controller.end()
        services.sessions.wipe(info.session_id, reason="sign_out")
        services.close()


@pytest.fixture
def keyring_file(tmp_path):
    """A real keyring backend (a file, from keyrings.alt) for remember-me tokens, per test."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    return backend


@pytest.fixture
def serialisations(monkeypatch) -> list[tuple[str, int]]:
    """(tag, characters) of each element lxml serialises in the test: the flattener serialises a
    record to match it against the known shapes, and a parent with a run of its records."""
    from lxml import etree

    calls = []
    original = etree.tostring

    def recording(element, **options):
        text = original(element, **options)
        calls.append((element.tag, len(text)))
        return text

    monkeypatch.setattr(etree, "tostring", recording)
    return calls

