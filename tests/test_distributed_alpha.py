"""Two CPU processes (gloo) with different data: α stays identical on both ranks for every α strategy.

Gradients taken with ``torch.autograd.grad`` bypass DDP, so the strategies all-reduce them by hand; the control
run with the all-reduce switched off shows the ranks would otherwise diverge (the check is not vacuous).
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STRATEGIES = ("first_order", "second_order", "a2m", "na_expected", "na_sampled")
STEPS = 3


OVERRIDES = {
    "first_order": (),
    "second_order": ("algo/arch_grad=second_order",),
    "a2m": ("algo/arch_grad=a2m", "algo.arch_grad.rho=0.05"),
    "na_expected": ("algo/arch_grad=na",),
    "na_sampled": ("algo/arch_grad=na", "algo.arch_grad.mode=sampled", "algo.arch_grad.samples=2"),
}


def _run(name: str, rank: int) -> dict[str, torch.Tensor]:
    from test_darts_algorithms import build, iterate

    torch.manual_seed(0)
    search = build("darts", "nb201", "algo.epochs=5", "algo.arch_lr=0.05", "algo.track_hessian=false", *OVERRIDES[name])
    start = search.alphas["cell"].detach().clone()  # the same on every rank (a named stream of the run seed)
    g = torch.Generator().manual_seed(100 + rank)  # each rank sees its own data
    for _ in range(STEPS):
        train = (torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g))
        val = (torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g))
        iterate(search, train, val)
    return {
        "start": start,
        "alpha": search.alphas["cell"].detach().clone(),
        "w": next(search.model.parameters()).detach().clone(),
    }


def _worker(rank: int, world: int, rendezvous: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        from nasflat import distributed

        results = {name: _run(name, rank) for name in STRATEGIES}
        reduce = distributed.all_reduce_mean
        distributed.all_reduce_mean = lambda tensors: None  # control: no averaging of hand-written gradients
        try:
            results["no_all_reduce"] = _run("a2m", rank)
        finally:
            distributed.all_reduce_mean = reduce
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_alpha_identical_on_all_ranks_after_several_steps(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for name in STRATEGIES:
        start = r0[name]["start"]
        assert torch.equal(r0[name]["alpha"], r1[name]["alpha"]), name
        assert torch.equal(r0[name]["w"], r1[name]["w"]), name  # the weight step averages gradients too
        assert not torch.allclose(r0[name]["alpha"], start, atol=1e-4), name  # α really moved
    assert not torch.allclose(r0["no_all_reduce"]["alpha"], r1["no_all_reduce"]["alpha"])
