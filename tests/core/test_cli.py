from __future__ import annotations

import orjson
from click.testing import CliRunner

from hearth_core.cli import cli


def test_status_json_names_services_and_masks_passwords(tmp_path):
    env = {
        "HEARTH_DATABASE_URL": "postgresql://app:s3cret@db.internal:5432/hearth",
        "HEARTH_REDIS_URL": "redis://:t0ken@cache.internal:6379/0",
    }
    result = CliRunner().invoke(cli, ["status", "--json", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    info = orjson.loads(result.output)
    assert info["database_url"] == "postgresql://app:***@db.internal:5432/hearth"
    assert info["redis_url"] == "redis://:***@cache.internal:6379/0"
    assert info["data_dir"] == str(tmp_path)
    assert info["version"]
    assert "s3cret" not in result.output and "t0ken" not in result.output


def test_status_embedded_default(tmp_path):
    result = CliRunner().invoke(
        cli, ["status", "--json"], env={"HEARTH_DATA_DIR": str(tmp_path), "HEARTH_PG_PORT": "6543"}
    )
    info = orjson.loads(result.output)
    assert info["embedded"] is True
    assert info["database_url"].endswith("@127.0.0.1:6543/hearth")


def test_bad_environment_value_names_the_variable(tmp_path):
    result = CliRunner().invoke(cli, ["status"], env={"HEARTH_PORT": "eighty"})
    assert result.exit_code == 2
    assert "HEARTH_PORT" in result.output
