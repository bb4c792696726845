import json
import math
import os
import random
import stat

import pytest

from ret_desktop.core.config import (
    SETTING_MAX,
    TUNABLE_NAMES,
    Settings,
    SettingsError,
    bundled_path,
    environment_overrides,
    load_settings,
    prepare_data_dirs,
    save_settings,
)


def write_settings(data_dir, values):
    (data_dir / "config").mkdir(parents=True, exist_ok=True)
    (data_dir / "config" / "settings.json").write_text(json.dumps(values) if not isinstance(values, str) else values)


def test_defaults_follow_the_design(tmp_path):
    s = load_settings({"RET_DATA_DIR": str(tmp_path)})
    assert s.runtime_root == tmp_path / "runtime"
    assert s.session_db == tmp_path / "runtime" / "ret_session.db"
    assert s.app_db == tmp_path / "ret_app.db"
    assert s.settings_file == tmp_path / "config" / "settings.json"
    assert (s.session_cache_max_size, s.session_cache_ttl_seconds) == (1000, 3600)
    assert (s.login_max_failures, s.login_window_seconds, s.operations_per_minute) == (5, 900, 100)


def test_without_data_dir_override_paths_come_from_platformdirs(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: str(tmp_path / "config"))
    monkeypatch.setattr(platformdirs, "user_log_dir", lambda *a, **k: str(tmp_path / "log"))
    s = load_settings({})
    assert (s.data_dir, s.config_dir, s.log_dir) == (tmp_path / "data", tmp_path / "config", tmp_path / "log")
    assert s.runtime_root == tmp_path / "data" / "runtime"


def test_environment_beats_settings_file_beats_defaults(tmp_path):
    write_settings(tmp_path, {"session_cache_max_size": 50, "session_cache_ttl_seconds": 120,
                              "runtime_root": "elsewhere"})
    s = load_settings({"RET_DATA_DIR": str(tmp_path), "SESSION_CACHE_MAX_SIZE": "70"})
    assert s.session_cache_max_size == 70
    assert s.session_cache_ttl_seconds == 120
    assert s.runtime_root == tmp_path / "elsewhere"
    assert s.session_db == tmp_path / "elsewhere" / "ret_session.db"
    s = load_settings({"RET_DATA_DIR": str(tmp_path), "RET_RUNTIME_ROOT": str(tmp_path / "rt"),
                       "RET_SESSION_DB": str(tmp_path / "x.db")})
    assert (s.runtime_root, s.session_db) == (tmp_path / "rt", tmp_path / "x.db")


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SESSION_CACHE_MAX_SIZE": "-5"}, "'session_cache_max_size' from environment variable SESSION_CACHE_MAX_SIZE"),
        ({"SESSION_CACHE_MAX_SIZE": "lots"}, "SESSION_CACHE_MAX_SIZE is 'lots'"),
        ({"SESSION_CACHE_TTL_SECONDS": "0"}, "must be at least 1"),
        ({"RET_CACHE_LOCK_TIMEOUT_SECONDS": "nan"}, "cache_lock_timeout_seconds"),
    ],
)
def test_bad_environment_values_name_the_setting(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings({"RET_DATA_DIR": str(tmp_path), **env})


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"session_cache_max_size": -1}', "session_cache_max_size"),
        ('{"session_cache_max_size": 2.5}', "whole number"),
        ('{"session_cache_ttl_seconds": true}', "session_cache_ttl_seconds"),
        ('{"runtime_root": 5}', "runtime_root"),
        ("[1, 2]", "JSON object"),
        ('{"session_cache_max_size": ', "not valid JSON \\(line 1"),
        (b"\xff\xfe garbage", "cannot be read"),
    ],
)
def test_bad_settings_file_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "settings.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SettingsError, match=message) as error:
        load_settings({"RET_DATA_DIR": str(tmp_path)})
    assert "Traceback" not in str(error.value)


def test_unreadable_settings_file_is_a_clear_error(tmp_path):
    (tmp_path / "config" / "settings.json").mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings({"RET_DATA_DIR": str(tmp_path)})


def test_unknown_keys_in_the_settings_file_are_ignored_with_a_warning(tmp_path, caplog):
    write_settings(tmp_path, {"session_cache_max_sise": 5})
    assert load_settings({"RET_DATA_DIR": str(tmp_path)}).session_cache_max_size == 1000
    assert "unknown setting 'session_cache_max_sise'" in caplog.text


def test_prepare_copies_the_runtime_template_without_overwriting(tmp_path):
    s = load_settings({"RET_DATA_DIR": str(tmp_path / "d")})
    prepare_data_dirs(s)
    readme = s.runtime_root / "README.md"
    assert readme.read_text() == (bundled_path("runtime_template") / "README.md").read_text()
    assert s.sessions_dir.is_dir() and s.jobs_dir.is_dir()
    assert not list(s.runtime_root.rglob(".gitkeep"))
    if os.name == "posix":
        assert stat.S_IMODE(s.sessions_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(s.data_dir.stat().st_mode) == 0o700
    readme.write_text("edited")
    (s.jobs_dir / "keep.json").write_text("{}")
    prepare_data_dirs(s)
    assert readme.read_text() == "edited" and (s.jobs_dir / "keep.json").exists()


def test_save_settings_writes_the_file_keeps_other_keys_and_applies(tmp_path):
    write_settings(tmp_path, {"runtime_root": "elsewhere", "login_max_failures": 7})
    s = load_settings({"RET_DATA_DIR": str(tmp_path)})
    saved = save_settings(s, {"session_cache_max_size": "250", "intake_max_ratio": 50.5}, env={})
    assert (saved.session_cache_max_size, saved.intake_max_ratio, saved.login_max_failures) == (250, 50.5, 7)
    assert json.loads(s.settings_file.read_text()) == {
        "runtime_root": "elsewhere", "login_max_failures": 7, "session_cache_max_size": 250, "intake_max_ratio": 50.5}
    assert load_settings({"RET_DATA_DIR": str(tmp_path)}) == saved


@pytest.mark.parametrize("changes, message", [
    ({"session_cache_max_size": 0}, "'session_cache_max_size' is 0: must be at least 1"),
    ({"intake_max_files": "many"}, "'intake_max_files' is 'many'"),
    ({"data_dir": "/tmp"}, "unknown settings: data_dir"),
])
def test_save_settings_refuses_bad_values_and_writes_nothing(tmp_path, changes, message):
    s = load_settings({"RET_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match=message):
        save_settings(s, {"session_cache_ttl_seconds": 60, **changes}, env={})
    assert not s.settings_file.exists()


def test_a_setting_fixed_by_the_environment_cannot_be_saved(tmp_path):
    env = {"RET_DATA_DIR": str(tmp_path), "RET_INTAKE_MAX_DEPTH": "3"}
    s = load_settings(env)
    assert environment_overrides(env) == {"intake_max_depth": "RET_INTAKE_MAX_DEPTH"}
    with pytest.raises(SettingsError, match="fixed by environment variable RET_INTAKE_MAX_DEPTH"):
        save_settings(s, {"intake_max_depth": 4}, env=env)
    assert save_settings(s, {"intake_max_depth": 3, "intake_max_files": 9}, env=env).intake_max_files == 9
    assert json.loads(s.settings_file.read_text()) == {"intake_max_files": 9}


# JSON text of odd values, as a hand-edited settings file may hold them (Python's json reads NaN and
# Infinity; 1e400 is infinity; 10**400 an integer no float or SQLite column holds).
ODD_JSON_VALUES = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0.0", "0", "-0", "0.0", "-1", "0.5",
                   "1.0000000000000002", "1" + "0" * 400, "-" + "1" * 30, str(2**63), str(10**15), str(10**15 + 1),
                   "1e15", "1e16", "true", "false", "null", '"1e999"', '"-1e999"', '"nan"', '"inf"', '"Infinity"',
                   '""', '"  "', '"12"', '" 7 "', '"0x10"', '"1_000"', '"٣"', '"2.5"', "[]", "[1]", "{}",
                   '{"value": 5}', '"\\u0000"', '"' + "9" * 5000 + '"']


def _odd_settings_files(seed=20261201, count=120):
    """Settings files of one to three tunables each with an odd value, drawn from a fixed seed."""
    rng = random.Random(seed)
    for _ in range(count):
        keys = rng.sample(TUNABLE_NAMES, rng.randint(1, 3))
        yield {key: rng.choice(ODD_JSON_VALUES) for key in keys}


@pytest.mark.parametrize("chosen", list(_odd_settings_files()), ids=lambda chosen: ",".join(chosen))
def test_odd_numbers_in_the_settings_file_are_a_clear_error_or_a_usable_value(tmp_path, chosen):
    write_settings(tmp_path, "{" + ", ".join(f'"{key}": {text}' for key, text in chosen.items()) + "}")
    try:
        settings = load_settings({"RET_DATA_DIR": str(tmp_path)})
    except SettingsError as error:
        message = str(error)
        assert "\n" not in message and len(message) < 300
        assert str(tmp_path / "config" / "settings.json") in message
        assert any(message.startswith(f"setting {key!r} from ") for key in chosen)
        return
    for key in chosen:
        value = getattr(settings, key)
        assert type(value) is type(getattr(Settings, key)) and not isinstance(value, bool)
        assert math.isfinite(value) and 0 < value <= SETTING_MAX


@pytest.mark.parametrize("text", ["1e400", "NaN", "-0.0", "1" + "0" * 400, '"1e999"', "true"])
def test_each_odd_number_is_refused_for_every_tunable(tmp_path, text):
    for key in TUNABLE_NAMES:
        write_settings(tmp_path, f'{{"{key}": {text}}}')
        with pytest.raises(SettingsError, match=f"^setting '{key}' from .*settings.json is "):
            load_settings({"RET_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize("value", ["1e400", "inf", "nan", "-0", "1" + "0" * 400])
def test_odd_numbers_in_the_environment_name_the_variable(tmp_path, value):
    with pytest.raises(SettingsError, match="^setting 'intake_max_ratio' from environment variable RET_INTAKE_MAX_RATIO"):
        load_settings({"RET_DATA_DIR": str(tmp_path), "RET_INTAKE_MAX_RATIO": value})
