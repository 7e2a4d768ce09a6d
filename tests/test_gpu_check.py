"""scripts/gpu_check.py: the parts that run without a GPU (check list, outcome classification, tables, exit codes)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gc = _load()


def _check(name="c", argv=("-c", "pass"), timeout=30.0, skip_if=()):
    return gc.Check(name, "search", tuple(argv), timeout, skip_if=tuple(skip_if))


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_check_list_covers_every_algo_config_space_and_bf16(tmp_path, device):
    args = gc.parse_args(["--device", device])
    runs, benches = gc.all_checks(args, tmp_path)
    algos = sorted(p.stem for p in (REPO / "conf" / "algo").glob("*.yaml"))
    assert len(algos) >= 10 and gc.algo_names() == algos
    searches = [c for c in runs if c.group == "search"]
    combos = set()
    for c in searches:
        keys = dict(a.split("=", 1) for a in c.argv if "=" in a and not a.startswith("--"))
        assert keys["dataset"] == "digits" and keys["scale"] == "tiny" and keys["logger"] == "none"
        assert keys["hardware"] == "gpu" and keys.get("hardware.device", "cuda") == device
        combos.add((keys["algo"], keys["space"], keys["hardware.bf16"]))
    assert combos == {(a, s, b) for a in algos for s in ("nb201", "darts") for b in ("true", "false")}
    assert len(searches) == len(combos)
    names = [c.name for c in [*runs, *benches]]
    assert len(names) == len(set(names))
    outs = [a for c in runs for a in c.argv if a.startswith("out_root=")]
    assert len(outs) == len(runs) == len(set(outs))  # no two runs share a run directory
    assert {c.name for c in runs if c.group == "retrain"} == {"retrain nb201 compile", "retrain darts compile"}
    assert all("hardware.compile=true" in c.argv for c in runs if c.group == "retrain")
    assert [c.name for c in benches] == ["bench_search_step", "bench_loader"]
    step = benches[0].argv
    assert step[:3] == ("scripts/bench_search_step.py", "--device", device) and step.count("--batch-size") == 2
    assert {"64", "256"} <= set(step) and ("--device", device) == benches[1].argv[1:3]


def test_ddp_checks_use_torchrun_with_two_ranks_and_skip_only_nccl(tmp_path):
    nccl, gloo = gc.ddp_checks("cuda", tmp_path, 60)
    for c in (nccl, gloo):
        assert c.argv[:4] == ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2")
        assert "hardware=ddp" in c.argv
    assert "hardware.device=cpu" not in nccl.argv and nccl.skip_if
    assert "hardware.device=cpu" in gloo.argv and not gloo.skip_if


def test_algos_and_only_filters(tmp_path):
    runs, _ = gc.all_checks(gc.parse_args(["--algos", "rs,darts", "--only", "^search .* nb201"]), tmp_path)
    assert sorted(c.name for c in runs) == sorted(
        f"search {a} nb201 bf16={b}" for a in ("darts", "rs") for b in ("true", "false")
    )
    with pytest.raises(SystemExit, match="unknown nope"):
        gc.all_checks(gc.parse_args(["--algos", "rs,nope"]), tmp_path)


TRACEBACK = "Traceback (most recent call last):\n  File 'x', line 1\n    raise ValueError('a')\nValueError: a\n"
RANK_ERROR = "torch.AcceleratorError: CUDA error: invalid device ordinal"


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (TRACEBACK, "ValueError: a"),
        (f"[rank1]: {RANK_ERROR}\nmore\n", RANK_ERROR),
        ("ok\nerror: hardware.bf16=maybe is not a bool\n", "error: hardware.bf16=maybe is not a bool"),
        ("x\nconfig error: algo.budget=-1: out of range\nhint: y\n", "config error: algo.budget=-1: out of range"),
        ("step 1\nstep 2\n", "step 2"),
        ("", ""),
    ],
)
def test_first_error_line(output, line):
    assert gc.first_error_line(output) == line


def test_classify_pass_fail_and_one_gpu_skip():
    nccl = _check(skip_if=gc.ONE_GPU_PATTERNS)
    out = "W0 warn\n[rank1]: RuntimeError: CUDA error: invalid device ordinal\n"
    status, detail = gc.classify(nccl, 1, out)
    assert status == "skipped" and detail.endswith("RuntimeError: CUDA error: invalid device ordinal")
    assert gc.classify(_check(), 1, out) == ("fail", "RuntimeError: CUDA error: invalid device ordinal")
    assert gc.classify(nccl, 0, out) == ("pass", "")
    assert gc.classify(_check(), 2, "") == ("fail", "exit status 2")


def test_run_check_pass_fail_timeout_and_budget(tmp_path):
    env = dict(os.environ)
    far = time.monotonic() + 60
    ok = gc.run_check(_check("ok", ("-c", "print('hi')")), env, far, tmp_path)
    assert (ok.status, ok.output.strip()) == ("pass", "hi")
    assert (tmp_path / "ok.log").read_text().endswith("hi\n")
    bad = gc.run_check(_check("bad", ("-c", "raise KeyError('k')")), env, far)
    assert bad.status == "fail" and bad.detail == "KeyError: 'k'"
    # the child spawns a grandchild; the whole process group is killed at the timeout
    sleeper = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
    t0 = time.monotonic()
    slow = gc.run_check(_check("slow", ("-c", sleeper + "print('started', flush=True); time.sleep(30)"), 1.5), env, far)
    assert slow.status == "timeout" and "started" in slow.detail and time.monotonic() - t0 < 10
    late = gc.run_check(_check("late"), env, time.monotonic() + 5)
    assert late.status == "not run" and late.seconds == 0


def _result(name, status, seconds, detail="", group="search", output=""):
    return gc.Result(gc.Check(name, group, ("x.py", "--a"), 1.0), status, seconds, detail, output)


def test_tables_and_markdown():
    results = [
        _result("bench_search_step", "pass", 12.34, group="bench", output="method | batch\nrow 1\n"),
        _result("search rs nb201 bf16=true", "pass", 20.0),
        _result("search a2m darts bf16=false", "fail", 3.05, "ValueError: a|b", output="l1\nValueError: a|b\n"),
        _result("torchrun 2 ranks nccl", "skipped", 9.0, "one GPU cannot host 2 NCCL ranks: x"),
    ]
    table = gc.results_table(results).splitlines()
    assert table[:2] == ["| check | status | seconds | first error line |", "|---|---|---:|---|"]
    assert table[2] == "| bench_search_step | pass | 12.3 | |".replace("| |", "|  |")
    assert table[4] == "| search a2m darts bf16=false | fail | 3.0 | ValueError: a\\|b |"  # 3.05 rounds to even
    assert len(table) == 6
    assert gc.summary(results) == "2 pass, 1 fail, 1 skipped"
    md = gc.markdown([("GPU", "NVIDIA H200"), ("driver", "580")], results, ["mode: device cuda"])
    assert md.startswith("# nasflat GPU check\n\n- GPU: NVIDIA H200\n- driver: 580\n- mode: device cuda\n")
    assert "## Checks (2 pass, 1 fail, 1 skipped)" in md
    assert "### bench_search_step\n\n`python x.py --a`\n\n```text\nmethod | batch\nrow 1\n```" in md
    assert "<summary>search a2m darts bf16=false</summary>" in md and "l1\nValueError: a|b" in md
    assert "<summary>torchrun" not in md  # skipped runs have no failure section


def test_missing_modules():
    assert gc.missing_modules(["json", "no_such_module_xyz"]) == ["no_such_module_xyz"]


def test_shim_makes_conf_importable_from_a_bare_checkout(tmp_path):
    pkg = gc.make_shim(tmp_path)
    assert gc.make_shim(tmp_path) == pkg  # idempotent
    code = (
        "import importlib.resources as r, nasflat, nasflat.conf; print(nasflat.__file__); "
        "print(r.files('nasflat.conf').joinpath('algo', 'rs.yaml').is_file())"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)}
    # -S: no site-packages, so no installed (editable) nasflat can answer instead of the shim
    proc = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(pkg / "__init__.py"), "True"]


def test_import_error_names_the_missing_package(tmp_path):
    broken = tmp_path / "nasflat"
    broken.mkdir()
    (broken / "__init__.py").write_text("import no_such_dep_xyz\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # shadows the installed nasflat
    assert gc.import_error(env, tmp_path) == "ModuleNotFoundError: No module named 'no_such_dep_xyz'"


def test_no_cuda_says_so_and_exits_zero(tmp_path):
    out = tmp_path / "gpu_check.md"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "CUDA is not available" in proc.stdout and not out.exists()


def test_incomplete_environment_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gc, "REQUIRED", (*gc.REQUIRED, "no_such_module_xyz"))
    args = gc.parse_args(["--device", "cpu", "--out", str(tmp_path / "x.md")])
    assert gc._check(args, tmp_path, [], []) == 3
    assert "missing Python packages: no_such_module_xyz" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()
