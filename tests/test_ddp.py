"""DDP on the CPU (gloo, two processes on 127.0.0.1) equals one process, same global batch."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp
from torch import nn

from fashion_lib.engine import (
    TensorBatches,
    TrainConfig,
    all_gather,
    cleanup,
    find_finished_run,
    fit,
    init_distributed,
    reduce_mean,
)
from fashion_lib.experiments.fashionsap_pretrain import reuse_or_train

CONFIG = TrainConfig(
    epochs=2,
    lr=5e-2,
    optimizer="adamw",
    weight_decay=0.01,
    schedule="cosine",
    warmup_steps=2,
    checkpoint_every=3,
    seed=3,
)


def data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(40, 6, generator=generator)  # (N, 6)
    return {"x": x, "y": x @ torch.randn(6, 3, generator=generator)}  # (N, 3)


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def mse(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"mse": nn.functional.mse_loss(net(batch["x"]), batch["y"])}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def join_group(rank: int, world_size: int, port: int, **env: str):
    """Join a gloo process group on 127.0.0.1 as torchrun would (its environment variables)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        GLOO_SOCKET_IFNAME="lo",
        **env,
    )
    torch.set_num_threads(1)
    return init_distributed()


def worker(rank: int, world_size: int, port: int, out: str) -> None:
    info = join_group(rank, world_size, port)
    try:
        assert (info.rank, info.world_size) == (rank, world_size)
        gathered = all_gather(torch.tensor([[rank, 10 + rank]]))  # (W, 2)
        assert gathered.tolist() == [[r, 10 + r] for r in range(world_size)]
        assert reduce_mean(torch.tensor(float(rank))).item() == (world_size - 1) / 2
        net = model()
        result = fit(
            net, mse, TensorBatches(data(), batch_size=8, seed=4), CONFIG, Path(out) / "run"
        )
        torch.save(
            {"state": net.state_dict(), "history": result.history}, Path(out) / f"rank{rank}.pt"
        )
    finally:
        cleanup()


def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    single = model()
    expected = fit(
        single, mse, TensorBatches(data(), batch_size=8, seed=4), CONFIG, tmp_path / "single"
    )
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in single.state_dict().items():
        for saved in ranks:
            torch.testing.assert_close(saved["state"][name], value, rtol=1e-5, atol=1e-6)
    logged = [h["mse"] for h in ranks[0]["history"]]  # averaged over the two shards
    torch.testing.assert_close(
        torch.tensor(logged),
        torch.tensor([h["mse"] for h in expected.history]),
        rtol=1e-5,
        atol=1e-6,
    )
    assert len(logged) == 10
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-00000009",
        "step-00000010",
    ]


def _slow_on_rank0(
    run_dir: Path,
) -> tuple[dict[str, float], list[dict[str, float]], float, dict]:
    if int(os.environ["RANK"]) == 0:
        time.sleep(1.0)  # rank 0 finishes last: without a barrier rank 1 would run ahead
    return {"score": 1.0}, [], 0.0, {}  # metrics, history, wall time, no evidence groups


def record_worker(rank: int, world_size: int, port: int, runs: str) -> None:
    join_group(rank, world_size, port, FASHION_RUNS_DIR=runs)
    try:
        config = {"what": "barrier test"}
        reuse_or_train("barrier", config, "smoke", 0, _slow_on_rank0)
        assert find_finished_run(config, name="barrier") is not None, f"rank {rank} ran ahead"
    finally:
        cleanup()


def test_no_rank_returns_before_rank0_wrote_the_record(tmp_path: Path) -> None:
    mp.spawn(record_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
