"""Operations from the command line, as an operator runs them (subprocesses, real database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CC_DATABASE_URL": database_url, "CC_DATA_DIR": str(tmp_path), "CC_ENV": "demo"}


def test_wrong_setting_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    result = run_cli("init-db", env={"CC_PORT": "eighty", "CC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "CC_PORT" in result.stderr

    config = tmp_path / "app.yaml"
    config.write_text("lang: zh-CN\ncolour: blue\n", encoding="utf-8")
    result = run_cli("init-db", env={"CC_CONFIG_FILE": str(config), "CC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "app.yaml" in result.stderr and "colour" in result.stderr


def test_production_without_secret_is_refused(tmp_path: Path) -> None:
    result = run_cli("init-db", env={"CC_ENV": "production", "CC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "CC_SECRET_KEY" in result.stderr


def test_init_db_and_create_user(cli_env: dict[str, str]) -> None:
    init = run_cli("init-db", env=cli_env)
    assert init.returncode == 0, init.stderr
    created = run_cli(
        "create-user",
        "--username",
        "ops1",
        "--password",
        "long-enough-1",
        "--role",
        "commander",
        "--region",
        "990102",
        env=cli_env,
    )
    assert created.returncode == 0, created.stderr
    assert "ops1" in created.stdout
    again = run_cli(
        "create-user",
        "--username",
        "ops1",
        "--password",
        "long-enough-1",
        "--role",
        "commander",
        env=cli_env,
    )
    assert again.returncode == 1 and "ops1" in again.stderr
    bad_role = run_cli(
        "create-user",
        "--username",
        "ops2",
        "--password",
        "long-enough-1",
        "--role",
        "king",
        env=cli_env,
    )
    assert bad_role.returncode == 1 and "role" in bad_role.stderr


HEADER = "external_id,title,category,source,severity,region_code,lat,lon,received_at,parties,people_involved,amount,status,outcome,closed_at,online\n"
GOOD = 'X-1,邻里噪音纠纷,neighbour,walk_in,general,990102001,30.4,106.6,2026-03-01T09:00:00+08:00,"[]",2,,closed,success,2026-03-03T10:00:00+08:00,false\n'
BAD = "X-2,欠薪,wage_arrears,hotline,huge,990102001,,,2026-03-01T09:00:00,[],1,,received,,,false\n"


def test_import_cases_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run_cli("init-db", env=cli_env).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD + BAD, encoding="utf-8")
    # The operator's language is zh-CN unless configured otherwise.
    rejected = run_cli("import-cases", str(bad), env=cli_env)
    assert rejected.returncode == 1
    assert "导入失败：1 行有误" in rejected.stderr
    assert "第 3 行" in rejected.stderr and "severity: 不是有效的选项" in rejected.stderr
    assert "received_at: 时间须带时区" in rejected.stderr
    english = run_cli("import-cases", str(bad), env={**cli_env, "CC_LANG": "en"})
    assert english.returncode == 1
    assert (
        "line 3" in english.stderr
        and "severity: not a valid choice" in english.stderr
        and "received_at: time needs a time zone" in english.stderr
    )
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD, encoding="utf-8")
    first = run_cli("import-cases", str(good), env={**cli_env, "CC_LANG": "en"})
    assert first.returncode == 0 and "1 imported" in first.stdout, first.stderr
    assert "Written" not in first.stderr  # a small file finishes before progress matters
    second = run_cli("import-cases", str(good), env=cli_env)
    assert "共 1 行：导入 0 条，已存在（未变更）1 条" in second.stdout
    seeded = run_cli("seed-demo", "--cases", "300", "--if-empty", env=cli_env)
    assert seeded.returncode == 0 and "nothing to do" in seeded.stdout


def test_import_of_a_big_file_shows_progress(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run_cli("init-db", env=cli_env).returncode == 0
    rows = [GOOD.replace("X-1,", f"P-{i},", 1) for i in range(6_000)]
    big = tmp_path / "big.csv"
    big.write_text(HEADER + "".join(rows), encoding="utf-8")
    result = run_cli("import-cases", str(big), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "共 6000 行：导入 6000 条" in result.stdout
    # Not a terminal: one line per tenth written, ending at the whole file.
    progress = [line for line in result.stderr.splitlines() if line.startswith("已写入")]
    assert len(progress) >= 2, result.stderr
    assert progress[-1] == "已写入：6,000 / 6,000 行（100%）"
    assert len(progress) == len(set(progress))
