"""``pakat seal`` as a person runs it: a real process, real exit codes, nothing written on failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import (
    BAD_INPUTS,
    assert_no_secret,
    check_sealed,
    pakat_command,
    pdf_bytes,
    process_env,
    secrets_of,
    sha256,
)

from signer.levels import PadesLevel


def run_pakat(dev_env: Any, home: Path, *args: str, config: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PAKAT_HOME": str(home)}
    if config:
        env["PAKAT_CONFIG"] = str(dev_env.deployment_path)
    result = subprocess.run(pakat_command(*args), env=process_env(env), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=180, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert_no_secret([result.stdout, result.stderr], secrets_of(dev_env))
    return result


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "envelope-c.pdf"
    path.write_bytes(pdf_bytes("Envelope C, price offer"))
    return path


def test_seal_b_lta(dev_env: Any, tmp_path: Path, source: Path) -> None:
    out = tmp_path / "out.pdf"
    result = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), "--org", "demo-co",
                       "--level", "B-LTA", "--reason", "پاکت ج")
    assert result.returncode == 0, result.stderr
    assert "sealed" in result.stdout and str(out) in result.stdout
    assert result.stdout.index("مهر شد") < result.stdout.index("sealed")
    check_sealed(out.read_bytes(), dev_env.root_cert_path, PadesLevel.B_LTA)


def test_seal_json_and_force(dev_env: Any, tmp_path: Path, source: Path) -> None:
    out = tmp_path / "out.pdf"
    first = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), "--org", "demo-gov",
                      "--level", "lt", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["organisation"] == "demo-gov" and result["level"] == "B-LT"
    assert result["input_sha256"] == sha256(source.read_bytes())
    assert result["output_sha256"] == sha256(out.read_bytes())
    assert result["output_size"] == out.stat().st_size
    check_sealed(out.read_bytes(), dev_env.root_cert_path, PadesLevel.B_LT)

    before = out.read_bytes()
    refused = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), "--org", "demo-gov")
    assert refused.returncode == 3
    assert refused.stderr.startswith("OUTPUT_EXISTS: ")
    assert out.read_bytes() == before

    forced = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), "--org", "demo-gov", "--force")
    assert forced.returncode == 0, forced.stderr
    check_sealed(out.read_bytes(), dev_env.root_cert_path, PadesLevel.B_B)


@pytest.mark.parametrize("name", ["not-a-pdf", "truncated", "encrypted"])
def test_bad_input_exit_3_and_no_output(dev_env: Any, tmp_path: Path, name: str) -> None:
    data, code = BAD_INPUTS[name]
    src = tmp_path / "in.pdf"
    src.write_bytes(data)
    out = tmp_path / "out.pdf"
    result = run_pakat(dev_env, tmp_path, "seal", str(src), "-o", str(out), "--org", "demo-co", "--level", "B-T")
    assert result.returncode == 3
    # CODE: persian / english
    head, _, rest = result.stderr.strip().partition(": ")
    assert head == code
    fa, _, en = rest.partition(" / ")
    assert fa and en and not fa.isascii() and en.isascii()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]


@pytest.mark.parametrize(
    ("args", "code", "exit_code"),
    [
        (["--org", "no-such-org"], "UNKNOWN_ORGANISATION", 4),
        (["--org", "demo-co", "--level", "B-XL"], "LEVEL_UNKNOWN", 3),
        (["--org", "demo-revoked", "--level", "B-T"], "SEAL_CERT_REVOKED", 6),
        (["--org", "demo-expired"], "SEAL_CERT_EXPIRED", 6),
    ],
)
def test_refusals_exit_codes(dev_env: Any, tmp_path: Path, source: Path,
                             args: list[str], code: str, exit_code: int) -> None:
    out = tmp_path / "out.pdf"
    result = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), *args, "--json")
    assert result.returncode == exit_code, result.stderr
    assert result.stderr.startswith(f"{code}: ")
    assert json.loads(result.stdout)["error"]["code"] == code
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_missing_configuration(dev_env: Any, tmp_path: Path, source: Path) -> None:
    result = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(tmp_path / "o.pdf"), "--org", "demo-co",
                       config=False)
    assert result.returncode == 4
    assert result.stderr.startswith("CONFIG_INVALID: ")
    assert "pakat.yaml" in result.stderr  # it says which file it looked for


def test_config_option_overrides_environment(dev_env: Any, tmp_path: Path, source: Path) -> None:
    out = tmp_path / "out.pdf"
    result = run_pakat(dev_env, tmp_path, "seal", str(source), "-o", str(out), "--org", "demo-co",
                       "--config", str(dev_env.deployment_path), config=False)
    assert result.returncode == 0, result.stderr
    assert out.exists()


def test_usage_errors_are_click_exit_2(dev_env: Any, tmp_path: Path) -> None:
    result = run_pakat(dev_env, tmp_path, "seal", str(tmp_path / "missing.pdf"), "-o", "x.pdf", "--org", "demo-co")
    assert result.returncode == 2
    help_text = run_pakat(dev_env, tmp_path, "--help")
    assert help_text.returncode == 0
    for command in ("seal", "serve", "worker", "devpki"):
        assert command in help_text.stdout
