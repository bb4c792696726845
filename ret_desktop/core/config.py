"""Settings: where data lives and the tunable limits.

Precedence, highest first: environment variables, the settings file, the defaults below.
``RET_DATA_DIR`` moves everything (settings file, logs, databases, runtime root) under one folder,
for tests and portable installs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import platformdirs

from ret_desktop import APP_NAME
from ret_desktop.core.fsutil import OWNER_ONLY_FILE, atomic_write_json, make_private_dir

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.json"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


def default_convert_workers() -> int:
    """Processes that flatten the documents of a batch side by side: all cores but one (the writer's
    and the window's)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every system
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    config_dir: Path
    log_dir: Path
    runtime_root: Path
    session_db: Path
    app_db: Path
    session_cache_max_size: int = 1000
    session_cache_ttl_seconds: int = 3600
    cache_lock_timeout_seconds: float = 5.0
    login_max_failures: int = 5
    login_window_seconds: int = 900
    operations_per_minute: int = 100
    intake_max_bytes: int = 2 * 1024**3
    intake_max_files: int = 20_000
    intake_max_ratio: float = 200.0
    intake_max_depth: int = 10
    audit_retention_days: int = 365
    convert_workers: int = field(default_factory=default_convert_workers)  # 1: in this process

    @property
    def settings_file(self) -> Path:
        return self.config_dir / SETTINGS_FILE_NAME

    @property
    def sessions_dir(self) -> Path:
        return self.runtime_root / "sessions"

    @property
    def jobs_dir(self) -> Path:
        return self.runtime_root / "jobs"


# Above any use (a million terabytes, thirty million years in seconds): a larger value is a mistake,
# and would overflow where it ends up (SQLite integers, timers).
SETTING_MAX = 10**15


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("expected a whole number")
    try:
        value = int(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):  # "2.5", "1e999", NaN, infinity
        raise ValueError("expected a whole number") from None
    if isinstance(raw, float) and raw != value:
        raise ValueError("expected a whole number")
    if value < 1:
        raise ValueError("must be at least 1")
    if value > SETTING_MAX:
        raise ValueError(f"must be at most {SETTING_MAX:,}")
    return value


def _positive_float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("expected a number")
    if isinstance(raw, int) and raw > SETTING_MAX:
        raise ValueError(f"must be at most {SETTING_MAX:,}")
    try:
        value = float(raw)
    except (ValueError, OverflowError):  # "ten", an integer too large for a float
        raise ValueError("expected a number") from None
    if not value > 0:  # NaN, zero, negative zero, below
        raise ValueError("must be a positive number")
    if value > SETTING_MAX:  # infinity too
        raise ValueError(f"must be at most {SETTING_MAX:,}")
    return value


@dataclass(frozen=True)
class _Tunable:
    name: str  # field of Settings and key in settings.json
    env: str
    parse: Callable[[Any], Any]


_TUNABLES = (
    _Tunable("session_cache_max_size", "SESSION_CACHE_MAX_SIZE", _positive_int),
    _Tunable("session_cache_ttl_seconds", "SESSION_CACHE_TTL_SECONDS", _positive_int),
    _Tunable("cache_lock_timeout_seconds", "RET_CACHE_LOCK_TIMEOUT_SECONDS", _positive_float),
    _Tunable("login_max_failures", "RET_LOGIN_MAX_FAILURES", _positive_int),
    _Tunable("login_window_seconds", "RET_LOGIN_WINDOW_SECONDS", _positive_int),
    _Tunable("operations_per_minute", "RET_OPERATIONS_PER_MINUTE", _positive_int),
    _Tunable("intake_max_bytes", "RET_INTAKE_MAX_BYTES", _positive_int),
    _Tunable("intake_max_files", "RET_INTAKE_MAX_FILES", _positive_int),
    _Tunable("intake_max_ratio", "RET_INTAKE_MAX_RATIO", _positive_float),
    _Tunable("intake_max_depth", "RET_INTAKE_MAX_DEPTH", _positive_int),
    _Tunable("audit_retention_days", "RET_AUDIT_RETENTION_DAYS", _positive_int),
    _Tunable("convert_workers", "RET_CONVERT_WORKERS", _positive_int),
)
TUNABLE_NAMES = tuple(t.name for t in _TUNABLES)
_PATH_SETTINGS = {"runtime_root": "RET_RUNTIME_ROOT", "session_db": "RET_SESSION_DB"}
_FILE_KEYS = {t.name for t in _TUNABLES} | set(_PATH_SETTINGS)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``), the settings file and defaults."""
    env = os.environ if env is None else env
    data_override = env.get("RET_DATA_DIR", "").strip()
    if data_override:
        data_dir = Path(data_override).expanduser().absolute()
        config_dir = data_dir / "config"
        log_dir = data_dir / "logs"
    else:
        data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        config_dir = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        log_dir = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))

    file_values = _read_settings_file(config_dir / SETTINGS_FILE_NAME)

    def path_setting(name: str, default: Path) -> Path:
        env_name = _PATH_SETTINGS[name]
        if env.get(env_name, "").strip():
            return Path(env[env_name].strip()).expanduser().absolute()
        if name in file_values:
            raw = file_values[name]
            if not isinstance(raw, str) or not raw.strip():
                raise SettingsError(f"setting {name!r} in {config_dir / SETTINGS_FILE_NAME}: expected a path")
            path = Path(raw).expanduser()
            return path if path.is_absolute() else data_dir / path
        return default

    runtime_root = path_setting("runtime_root", data_dir / "runtime")
    session_db = path_setting("session_db", runtime_root / "ret_session.db")

    tunables: dict[str, Any] = {}
    for tunable in _TUNABLES:
        if env.get(tunable.env, "").strip():
            raw, source = env[tunable.env], f"environment variable {tunable.env}"
        elif tunable.name in file_values:
            raw, source = file_values[tunable.name], f"{config_dir / SETTINGS_FILE_NAME}"
        else:
            continue
        try:
            tunables[tunable.name] = tunable.parse(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {tunable.name!r} from {source} is {_shown(raw)}: {exc}") from None

    return Settings(
        data_dir=data_dir,
        config_dir=config_dir,
        log_dir=log_dir,
        runtime_root=runtime_root,
        session_db=session_db,
        app_db=data_dir / "ret_app.db",
        **tunables,
    )


def _shown(raw: Any) -> str:
    """A value as an error message shows it: one short line."""
    text = json.dumps(raw) if isinstance(raw, (bool, float)) or raw is None else repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def environment_overrides(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tunable settings fixed by an environment variable: name -> variable."""
    env = os.environ if env is None else env
    return {t.name: t.env for t in _TUNABLES if env.get(t.env, "").strip()}


def save_settings(settings: Settings, changes: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Check ``changes`` (tunable name -> value), write them into the settings file atomically
    (keeping what else it holds) and return the settings with them applied.

    Raises SettingsError, and writes nothing, when a value is not valid or a setting is fixed by an
    environment variable (which would win over the file anyway).
    """
    fixed = environment_overrides(env)
    parsed: dict[str, Any] = {}
    for tunable in _TUNABLES:
        if tunable.name not in changes:
            continue
        raw = changes[tunable.name]
        if tunable.name in fixed and raw != getattr(settings, tunable.name):
            raise SettingsError(f"setting {tunable.name!r} is fixed by environment variable {fixed[tunable.name]}")
        try:
            parsed[tunable.name] = tunable.parse(raw)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {tunable.name!r} is {_shown(raw)}: {exc}") from None
    unknown = set(changes) - set(TUNABLE_NAMES)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    stored = _read_settings_file(settings.settings_file)
    stored.update({name: value for name, value in parsed.items() if name not in fixed})
    make_private_dir(settings.config_dir)
    atomic_write_json(settings.settings_file, stored)
    return replace(settings, **parsed)


def _read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"settings file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(values, dict):
        raise SettingsError(f"settings file {path} must hold a JSON object of setting names to values")
    for unknown in sorted(set(values) - _FILE_KEYS):
        log.warning("settings file %s: unknown setting %r ignored", path, unknown)
    return {key: value for key, value in values.items() if key in _FILE_KEYS}


def bundled_path(name: str) -> Path:
    """Where a shipped folder (``resources``, ``runtime_template``) is: in a wheel, a PyInstaller
    bundle or a source checkout."""
    package_root = Path(__file__).resolve().parent.parent
    candidates = [package_root / "_bundled" / name]
    if hasattr(sys, "_MEIPASS"):
        candidates.append(Path(sys._MEIPASS) / name)  # type: ignore[attr-defined]
    candidates.append(package_root.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped folder {name!r} not found (looked in {', '.join(map(str, candidates))})")


def prepare_data_dirs(settings: Settings) -> None:
    """Create the data folders and copy the runtime skeleton into the runtime root.

    Never overwrites what is already there; every folder is owner-only (0700) and every copied file
    0600, whatever the umask (a folder named by ``RET_SESSION_DB`` that exists already is left as it is).
    """
    for folder in (settings.data_dir, settings.config_dir, settings.log_dir, settings.runtime_root):
        make_private_dir(folder)
    template = bundled_path("runtime_template")
    for source in sorted(template.rglob("*")):
        target = settings.runtime_root / source.relative_to(template)
        if source.is_dir():
            make_private_dir(target)
        elif source.name != ".gitkeep" and not target.exists():
            shutil.copyfile(source, target)
            os.chmod(target, OWNER_ONLY_FILE)
    make_private_dir(settings.sessions_dir)
    make_private_dir(settings.jobs_dir)
    make_private_dir(settings.session_db.parent, only_if_new=True)
