#!/usr/bin/env python3
"""One command that checks a CUDA machine in under 10 minutes (docs/gpu.md).

Runs, as subprocesses: every algorithm config (conf/algo/*.yaml) on both spaces at tiny size on the digits data
with bf16 autocast on and off, the torch.compile retrain on both spaces, a 2-rank torchrun (NCCL on the GPU; gloo
on the CPU as the fallback), then the throughput benchmarks (scripts/bench_search_step.py, scripts/bench_loader.py)
alone on an idle GPU. Prints a pass/fail table and the throughput tables and writes both, with the machine's GPU,
driver, torch and CUDA versions, to ``--out`` (Markdown).

    bash scripts/gpu_check.sh --out gpu_check.md           # the GPU machine (needs CUDA; exits 0 without it)
    bash scripts/gpu_check.sh --device cpu --quick --algos rs,darts   # dev: the same command lines on a CPU

Exit status: 0 all passed (or no CUDA), 1 a check failed or timed out, 3 the Python environment is incomplete.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime as dt
import importlib.util
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACES = ("nb201", "darts")
# what nasflat imports (the GPU image has all but hydra/omegaconf/antlr4, which travel as wheels: docs/gpu.md)
REQUIRED = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "sklearn",
    "matplotlib",
    "rich",
    "yaml",
    "hydra",
    "omegaconf",
    "antlr4",
)
TINY = ("dataset=digits", "scale=tiny", "logger=none")
NB201_ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
DARTS_ARCH = (  # DARTS V2 (quark0 genotypes.py)
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
# 2 ranks on one GPU: nasflat puts rank r on cuda:LOCAL_RANK (rank 1 has no device), and NCCL >= 2.x refuses two
# ranks on one device; either means "this machine cannot run it", not a bug
ONE_GPU_PATTERNS = ("invalid device ordinal", "Duplicate GPU detected", "ncclInvalidUsage", "same device")
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*|(\w+ )?error:.*|.*\bERROR\b.*)$")
RANK_PREFIX = re.compile(r"^\[(rank|default)\d+\]:\s?")


@dataclass(frozen=True)
class Check:
    """One subprocess: ``argv`` after the Python interpreter, run from the repository root."""

    name: str
    group: str  # search | retrain | ddp | bench
    argv: tuple[str, ...]
    timeout: float
    skip_if: tuple[str, ...] = ()  # output patterns meaning the machine cannot run it -> "skipped"
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    check: Check
    status: str  # pass | fail | timeout | skipped | not run
    seconds: float
    detail: str = ""  # first error line, or the reason for a skip
    output: str = ""


# ---- the check list --------------------------------------------------------------------------------------------------
def algo_names(conf: Path = REPO / "conf") -> list[str]:
    """Every algorithm config (the list grows by adding a YAML file)."""
    return sorted(p.stem for p in (conf / "algo").glob("*.yaml"))


def _cli(command: str, *overrides: str) -> tuple[str, ...]:
    return ("-m", "nasflat.cli", *command.split(), *overrides)


def search_checks(algos: Sequence[str], device: str, out: Path, timeout: float) -> list[Check]:
    """Every algorithm x space x bf16 on/off at tiny size (``hardware=gpu`` with the device overridden on a CPU)."""
    dev = () if device == "cuda" else (f"hardware.device={device}",)
    checks = []
    for space in sorted(SPACES):  # darts before nb201: the DARTS-space runs are the longest
        for algo in algos:
            for bf16 in ("true", "false"):
                name = f"search {algo} {space} bf16={bf16}"
                hw = ("hardware=gpu", *dev, f"hardware.bf16={bf16}")
                argv = _cli("search", f"algo={algo}", f"space={space}", *TINY, *hw, f"out_root={out / _slug(name)}")
                checks.append(Check(name, "search", argv, timeout))
    return checks


def compile_checks(device: str, out: Path, timeout: float) -> list[Check]:
    """The torch.compile retrain path (``hardware.compile``) on both spaces."""
    dev = () if device == "cuda" else (f"hardware.device={device}",)
    checks = []
    for space, arch in (("nb201", NB201_ARCH), ("darts", DARTS_ARCH)):
        name = f"retrain {space} compile"
        hw = ("hardware=gpu", *dev, "hardware.compile=true")
        argv = _cli("retrain", f"space={space}", f'arch="{arch}"', *TINY, *hw, f"out_root={out / _slug(name)}")
        checks.append(Check(name, "retrain", argv, timeout))
    return checks


def ddp_checks(device: str, out: Path, timeout: float) -> list[Check]:
    """2 ranks under torchrun: NCCL on the device (skipped when one GPU cannot host two), gloo on the CPU."""
    run = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2")
    dev = () if device == "cuda" else (f"hardware.device={device}",)
    variants = (
        (f"torchrun 2 ranks {'nccl' if device == 'cuda' else device}", ("hardware=ddp", *dev), ONE_GPU_PATTERNS),
        ("torchrun 2 ranks gloo cpu", ("hardware=ddp", "hardware.device=cpu", "hardware.bf16=false"), ()),
    )
    checks = []
    for name, hw, skip_if in variants:
        argv = (*run, *_cli("search", "algo=rs", "space=nb201", *TINY, *hw, f"out_root={out / _slug(name)}"))
        checks.append(Check(name, "ddp", argv, timeout, skip_if=skip_if))
    return checks


def bench_checks(device: str, quick: bool, timeout: float) -> list[Check]:
    """The two throughput benchmarks; ``quick`` shrinks them to seconds (same code paths) for a CPU dry run, on one
    thread (2 busy cores with 2 OpenMP threads each ran 60x slower)."""
    batches = ("8", "16") if quick else ("64", "256")
    step = ["--device", device, "--batch-size", batches[0], "--batch-size", batches[1], "--precision", "both"]
    tiny = ["--C", "4", "--N", "1", "--res", "16", "--steps", "1", "--warmup", "1", "--threads", "1"]
    step += tiny if quick else ["--steps", "10"]
    loader = ["--device", device]
    loader += (
        ["--iters", "4", "--warmup", "1", "--repeats", "1", "--workers", "0", "--threads", "1"]
        if quick
        else ["--workers", "0", "4"]
    )
    return [
        Check("bench_search_step", "bench", ("scripts/bench_search_step.py", *step), timeout),
        Check("bench_loader", "bench", ("scripts/bench_loader.py", *loader), timeout),
    ]


def all_checks(args: argparse.Namespace, out: Path) -> tuple[list[Check], list[Check]]:
    """(CLI runs, longest first, run in parallel after the benchmarks; benchmarks, one at a time on an idle GPU)."""
    algos = algo_names()
    if args.algos:
        unknown = sorted(set(args.algos) - set(algos))
        if unknown:
            raise SystemExit(f"--algos: unknown {', '.join(unknown)} (conf/algo has {', '.join(algos)})")
        algos = [a for a in algos if a in args.algos]
    t = args.timeout
    runs = [
        *compile_checks(args.device, out, 3 * t),
        *ddp_checks(args.device, out, t),
        *search_checks(algos, args.device, out, t),
    ]
    benches = bench_checks(args.device, args.quick, t)
    if args.only:
        runs = [c for c in runs if re.search(args.only, c.name)]
        benches = [c for c in benches if re.search(args.only, c.name)]
    return runs, benches


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


# ---- running ---------------------------------------------------------------------------------------------------------
def first_error_line(output: str) -> str:
    """The first line that names an error (exception line, ``error:``, torchrun's ERROR), else the last line."""
    lines = [RANK_PREFIX.sub("", ln).strip() for ln in output.splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if ERROR_LINE.match(ln):
            return ln[:200]
    return lines[-1][:200] if lines else ""


def classify(check: Check, returncode: int, output: str) -> tuple[str, str]:
    """(status, detail) of a finished run."""
    if returncode == 0:
        return "pass", ""
    low = output.lower()
    for pattern in check.skip_if:
        if pattern.lower() in low:
            line = next(ln for ln in output.splitlines() if pattern.lower() in ln.lower())
            return "skipped", f"one GPU cannot host 2 NCCL ranks: {RANK_PREFIX.sub('', line.strip())[:160]}"
    return "fail", first_error_line(output) or f"exit status {returncode}"


def run_check(check: Check, env: dict[str, str], deadline: float, log_dir: Path | None = None) -> Result:
    """Run one check in its own process group (a timeout kills torchrun's ranks and compile workers too)."""
    left = deadline - time.monotonic()
    if left < 10:
        return Result(check, "not run", 0.0, "the total time budget (--budget) was spent")
    timeout = min(check.timeout, left)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, *check.argv],
        cwd=REPO,
        env={**env, **check.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        status, detail = classify(check, proc.returncode, output)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status, detail = "timeout", f"killed after {timeout:.0f} s; last line: {first_error_line(output)}"[:200]
    if log_dir is not None:
        (log_dir / f"{_slug(check.name)}.log").write_text(" ".join(check.argv) + "\n\n" + output)
    return Result(check, status, time.monotonic() - t0, detail, output)


def run_all(
    runs: Sequence[Check], benches: Sequence[Check], env: dict[str, str], jobs: int, deadline: float, log_dir: Path
) -> list[Result]:
    """Benchmarks first, one at a time on an idle GPU; then the CLI runs, ``jobs`` at a time, longest first."""
    results = []
    for check in benches:
        results.append(run_check(check, env, deadline, log_dir))
        _progress(results[-1])
    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_check, c, env, deadline, log_dir) for c in runs]
        for fut in cf.as_completed(futures):
            _progress(fut.result())
        results += [f.result() for f in futures]
    return results


def _progress(r: Result) -> None:
    print(f"  {r.status:8s} {r.seconds:6.1f} s  {r.check.name}  {r.detail}", flush=True)


# ---- environment -----------------------------------------------------------------------------------------------------
def missing_modules(names: Sequence[str]) -> list[str]:
    return [n for n in names if importlib.util.find_spec(n) is None]


def nasflat_env(base: dict[str, str], shim_root: Path) -> dict[str, str]:
    """The children's environment: nasflat importable with its configs as ``nasflat.conf``.

    An installed nasflat (pip install -e .) already maps conf/ to nasflat.conf; a bare checkout (the GPU machine) gets
    a shim package: symlinks to every entry of src/nasflat plus ``conf`` -> conf/, first on PYTHONPATH.
    """
    env = {**base, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled"}
    shim_root.mkdir(parents=True, exist_ok=True)
    probe = [sys.executable, "-c", "import nasflat.conf, nasflat.cli"]
    if subprocess.run(probe, env=env, capture_output=True, cwd=shim_root).returncode == 0:
        return env
    make_shim(shim_root)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim_root), base.get("PYTHONPATH", "")) if p)
    return env


def make_shim(root: Path) -> Path:
    """``root/nasflat``: symlinks to every entry of src/nasflat plus ``conf`` -> conf/ (setup.py's package-dir)."""
    pkg = root / "nasflat"
    pkg.mkdir(parents=True, exist_ok=True)
    for entry in (REPO / "src" / "nasflat").iterdir():
        if entry.name != "__pycache__" and not (pkg / entry.name).exists():
            (pkg / entry.name).symlink_to(entry)
    if not (pkg / "conf").exists():
        (pkg / "conf").symlink_to(REPO / "conf")
    return pkg


def import_error(env: dict[str, str], cwd: Path) -> str:
    """'' when the children can import the CLI, else the import error (naming the missing package)."""
    probe = [sys.executable, "-c", "import nasflat.conf, nasflat.cli, nasflat.pipeline"]
    proc = subprocess.run(probe, env=env, capture_output=True, text=True, cwd=cwd)
    return "" if proc.returncode == 0 else first_error_line(proc.stderr)


def machine_info(device: str) -> list[tuple[str, str]]:
    import torch

    info = [("date", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")), ("host", platform.node())]
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        gpu = f"{torch.cuda.get_device_name(0)} (sm_{p.major}{p.minor}, {p.total_memory / 2**30:.1f} GiB)"
        info += [("GPU", f"{gpu} x {torch.cuda.device_count()}"), ("driver", _driver())]
        info += [("CUDA (torch build)", str(torch.version.cuda)), ("cuDNN", str(torch.backends.cudnn.version()))]
        with contextlib.suppress(Exception):  # NCCL absent from some builds
            info.append(("NCCL", ".".join(map(str, torch.cuda.nccl.version()))))
    info += [("torch", torch.__version__), ("python", platform.python_version()), ("CPUs", str(os.cpu_count()))]
    return info


def _driver() -> str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown (no nvidia-smi)"
    proc = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else "unknown"


# ---- report ----------------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_table(results: Sequence[Result]) -> str:
    """Markdown pass/fail table: check, status, seconds, first error line."""
    rows = ["| check | status | seconds | first error line |", "|---|---|---:|---|"]
    rows += [f"| {_cell(r.check.name)} | {r.status} | {r.seconds:.1f} | {_cell(r.detail)} |" for r in results]
    return "\n".join(rows)


def summary(results: Sequence[Result]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "timeout", "skipped", "not run")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("pass", "fail"))


def throughput_section(results: Sequence[Result]) -> str:
    """The benchmarks' own tables, verbatim (their columns are documented in each script)."""
    parts = []
    for r in results:
        if r.check.group == "bench":
            body = r.output.strip() if r.status == "pass" else f"{r.status}: {r.detail}"
            parts.append(f"### {r.check.name}\n\n`python {' '.join(r.check.argv)}`\n\n```text\n{body}\n```")
    return "\n\n".join(parts) or "(no benchmark ran)"


def failure_tails(results: Sequence[Result], lines: int = 25) -> str:
    parts = []
    for r in results:
        if r.status in ("fail", "timeout"):
            tail = "\n".join(r.output.strip().splitlines()[-lines:])
            cmd = " ".join(r.check.argv)
            parts.append(f"<details><summary>{r.check.name}</summary>\n\n`{cmd}`\n\n```text\n{tail}\n```\n</details>")
    return "\n\n".join(parts)


def markdown(info: Sequence[tuple[str, str]], results: Sequence[Result], header: Sequence[str]) -> str:
    lines = ["# nasflat GPU check", "", *(f"- {k}: {v}" for k, v in info), *(f"- {h}" for h in header), ""]
    lines += [f"## Checks ({summary(results)})", "", results_table(results), "", "## Throughput", ""]
    lines.append(throughput_section(results))
    if tails := failure_tails(results):
        lines += ["", "## Failed checks: last lines of output", "", tails]
    return "\n".join(lines) + "\n"


# ---- main ------------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("gpu_check.md"), help="Markdown report (default: ./gpu_check.md)")
    p.add_argument("--jobs", type=int, default=None, help="CLI runs at a time (default: 8 on CUDA, 2 on a CPU)")
    p.add_argument("--budget", type=float, default=510.0, help="seconds for everything; later checks are not run")
    p.add_argument("--timeout", type=float, default=150.0, help="seconds per check (compile checks: 3x)")
    p.add_argument("--algos", type=lambda s: s.split(","), default=None, help="comma list (default: every config)")
    p.add_argument("--only", default=None, help="regex: run only the checks whose name matches")
    p.add_argument("--work", type=Path, default=None, help="keep run dirs and logs here (default: a temp dir)")
    p.add_argument("--list", action="store_true", help="print the check commands and exit")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help=argparse.SUPPRESS)  # dev: CPU dry run
    p.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # dev: seconds-long benchmarks
    args = p.parse_args(argv)
    args.jobs = args.jobs or (8 if args.device == "cuda" else 2)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        runs, benches = all_checks(args, (args.work or Path("WORK")) / "runs")
        print("\n".join(f"{c.name}: python {' '.join(c.argv)}" for c in [*benches, *runs]))
        return 0
    if missing := missing_modules(["torch"]):
        print(f"gpu_check: missing Python packages: {', '.join(missing)}", file=sys.stderr)
        return 3
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: CUDA is not available (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
            "nothing to check. Run it on a GPU machine (docs/gpu.md)."
        )
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="nasflat-gpu-check-"))
    runs, benches = all_checks(args, work / "runs")
    return _check(args, work, runs, benches)


def _check(args: argparse.Namespace, work: Path, runs: list[Check], benches: list[Check]) -> int:
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    missing = missing_modules(REQUIRED)
    env = nasflat_env(dict(os.environ), work / "shim") if not missing else {}
    if missing or (err := import_error(env, work)):
        print(f"gpu_check: bootstrap failed; missing Python packages: {', '.join(missing) or '-'}", file=sys.stderr)
        if not missing:
            print(f"gpu_check: importing nasflat.cli failed: {err}", file=sys.stderr)
        print("  carry them as wheels and install with --target (docs/gpu.md)", file=sys.stderr)
        return 3
    info = machine_info(args.device)
    print("\n".join(f"{k}: {v}" for k, v in info))
    print(f"{len(benches)} benchmarks, then {len(runs)} CLI runs ({args.jobs} at a time); logs in {work}", flush=True)
    (work / "logs").mkdir(exist_ok=True)
    results = run_all(runs, benches, env, args.jobs, t0 + args.budget, work / "logs")
    total = time.monotonic() - t0
    mode = f"device {args.device}{' (quick)' if args.quick else ''}, {args.jobs} jobs, budget {args.budget:.0f} s"
    header = [f"mode: {mode}", f"total wall time: {total:.0f} s", f"logs: {work / 'logs'}"]
    text = markdown(info, results, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(
        f"\n{results_table(results)}\n\n{throughput_section(results)}\n\n{summary(results)}; {total:.0f} s; "
        f"written to {args.out}"
    )
    return 0 if all(r.status in ("pass", "skipped") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
