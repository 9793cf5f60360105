"""The training engine: exact resume after a kill, checkpoint fallback, AMP, configs, records."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import fashion_lib
from fashion_lib.engine import (
    CheckpointStore,
    ItemBatches,
    StepEvent,
    TensorBatches,
    TrainConfig,
    all_gather,
    autocast,
    canonical_json,
    config_hash,
    find_finished_run,
    fit,
    load_weights,
    resolve_amp,
    run_dir_for,
    to_device,
    with_overrides,
    write_record,
)
from fashion_lib.engine.optim import build_optimizer, lr_factor, param_groups
from fashion_lib.engine.records import run_key
from fashion_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CONFIG = TrainConfig(epochs=3, lr=1e-2, checkpoint_every=4, keep_checkpoints=3, seed=7)


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def noisy_load(index: int) -> dict[str, torch.Tensor]:
    """A sample with a random augmentation (global torch RNG), as an image transform would use."""
    x = torch.arange(4, dtype=torch.float32) * (index % 7) / 7.0
    return {
        "x": x + 0.1 * torch.randn(4),
        "y": torch.tensor([index % 2, index % 3], dtype=torch.float32),
    }


def mse(net: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = net(batch["x"])  # (B, 2)
    return {"mse": nn.functional.mse_loss(out, batch["y"]), "l1": 0.1 * out.abs().mean()}


def plan(epoch: int) -> list[int]:
    """A 'sampler': 26 item ids per epoch, a pure function of the epoch (ragged tail of 2)."""
    return torch.randperm(26, generator=torch.Generator().manual_seed(100 + epoch)).tolist()


def train_run(run_dir: str, kill_at: int | None = None) -> nn.Module:
    """Train the tiny model for 3 epochs of 6 steps; SIGKILL this process after step `kill_at`."""
    torch.set_num_threads(1)
    model = tiny_model()

    def killer(event: StepEvent) -> None:
        if event.step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    batches = ItemBatches(plan, noisy_load, batch_size=4, seed=5)
    fit(model, mse, batches, CONFIG, run_dir, callbacks=[killer])
    return model


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_resume_after_sigkill_gives_identical_weights(tmp_path: Path) -> None:
    reference = train_run(str(tmp_path / "straight"))
    killed = tmp_path / "killed"
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]; "
        f"import test_engine; test_engine.train_run({str(killed)!r}, kill_at=9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    # killed after step 9, mid-epoch 1: the newest checkpoint is step 8 (checkpoint_every=4)
    assert [p.name for p in CheckpointStore(killed / "checkpoints").paths()] == [
        "step-00000004",
        "step-00000008",
    ]
    resumed = train_run(str(killed))
    assert_same_weights(reference, resumed)
    state = CheckpointStore.read(killed / "checkpoints" / "step-00000018")
    assert [h["step"] for h in state["history"]] == list(range(1, 19))


def test_history_logs_terms_and_exp_decay_lr(tmp_path: Path) -> None:
    data = {"x": torch.randn(20, 4), "y": torch.randn(20, 2)}
    config = dataclasses.replace(CONFIG, log_every=2, checkpoint_every=0)
    result = fit(tiny_model(), mse, TensorBatches(data, 5, seed=0), config, tmp_path)
    assert [h["step"] for h in result.history] == [2, 4, 6, 8, 10, 12]
    for h in result.history:
        assert h["loss"] == pytest.approx(h["mse"] + h["l1"])
        assert h["lr"] == pytest.approx(1e-2 * 0.975 ** ((h["step"] - 1) // 4))
    assert result.checkpoint is not None and result.checkpoint.name == "step-00000012"


def test_lr_schedules_by_hand() -> None:
    cosine = TrainConfig(lr=1.0, schedule="cosine", warmup_steps=4, warmup_lr=0.2, min_lr=0.1)
    assert [lr_factor(s, cosine, 10, 14) for s in (0, 2, 4, 9, 14)] == pytest.approx(
        [0.2, 0.6, 1.0, 0.55, 0.1]
    )
    decay = TrainConfig(lr=2.0, gamma=0.5)
    assert [lr_factor(s, decay, 3, 9) for s in (0, 2, 3, 8)] == [1.0, 1.0, 0.5, 0.25]


def test_batches_do_not_depend_on_workers_or_start_step() -> None:
    source = ItemBatches(plan, noisy_load, batch_size=4, seed=5)
    full = list(source.iter_epoch(2))
    assert source.steps_per_epoch == len(full) == 6
    tail = list(source.iter_epoch(2, start_step=4))
    workers = list(ItemBatches(plan, noisy_load, 4, seed=5, num_workers=2).iter_epoch(2))
    for a, b in zip(full[4:], tail, strict=True):
        assert torch.equal(a["x"], b["x"])
    for a, b in zip(full, workers, strict=True):
        assert torch.equal(a["x"], b["x"])
    assert not torch.equal(full[0]["x"], next(source.iter_epoch(3))["x"])


def test_corrupted_or_truncated_checkpoint_falls_back_with_warning(tmp_path: Path) -> None:
    data = {"x": torch.randn(24, 4), "y": torch.randn(24, 2)}
    config = dataclasses.replace(CONFIG, epochs=1, checkpoint_every=2)
    straight = tiny_model()
    fit(straight, mse, TensorBatches(data, 4, seed=1), config, tmp_path / "a")
    store = CheckpointStore(tmp_path / "a" / "checkpoints")
    assert [p.name for p in store.paths()] == ["step-00000002", "step-00000004", "step-00000006"]
    newest = store.paths()[-1] / "state.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated copy
    middle = store.paths()[1] / "state.pt"
    raw = bytearray(middle.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte
    middle.write_bytes(bytes(raw))
    with pytest.warns(UserWarning) as caught:
        state, path = store.load_latest()
    assert path.name == "step-00000002" and state["step"] == 2
    messages = [str(w.message) for w in caught]
    assert "step-00000006/state.pt" in messages[0] and "step-00000004/state.pt" in messages[1]
    # fit resumes from step 2 and ends where the uninterrupted run ended
    resumed = tiny_model()
    with pytest.warns(UserWarning, match="falling back"):
        result = fit(resumed, mse, TensorBatches(data, 4, seed=1), config, tmp_path / "a")
    assert result.resumed_from == 2
    assert_same_weights(straight, resumed)
    reloaded = tiny_model()
    assert load_weights(reloaded, tmp_path / "a") == 6
    assert_same_weights(straight, reloaded)


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    data = {"x": torch.randn(8, 4), "y": torch.randn(8, 2)}
    fit(tiny_model(), mse, TensorBatches(data, 4, seed=1), CONFIG, tmp_path)
    with pytest.raises(ConfigError, match="another config"):
        fit(
            tiny_model(),
            mse,
            TensorBatches(data, 4, seed=1),
            dataclasses.replace(CONFIG, lr=0.5),
            tmp_path,
        )


def test_bf16_autocast_on_cpu() -> None:
    policy = resolve_amp("bf16", torch.device("cpu"))
    assert policy.dtype is torch.bfloat16 and not policy.use_scaler
    model, seen = tiny_model(), []
    model[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    with autocast(policy):
        model(torch.randn(3, 4))
    model(torch.randn(3, 4))
    assert seen == [torch.bfloat16, torch.float32]
    assert resolve_amp("auto", torch.device("cpu")).dtype is None
    with pytest.raises(ConfigError, match="fp16"):
        resolve_amp("fp16", torch.device("cpu"))


def test_fit_with_bf16_keeps_fp32_weights(tmp_path: Path) -> None:
    data = {"x": torch.randn(16, 4), "y": torch.randn(16, 2)}
    model = tiny_model()
    config = dataclasses.replace(CONFIG, amp="bf16", epochs=2, grad_clip=1.0)
    result = fit(model, mse, TensorBatches(data, 4, seed=0), config, tmp_path)
    assert result.steps == 8 and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)


def test_overrides_check_keys_and_types() -> None:
    config = with_overrides(TrainConfig(), {"lr": 3e-4, "betas": [0.9, 0.98], "optimizer": "adamw"})
    assert (config.lr, config.betas, config.optimizer) == (3e-4, (0.9, 0.98), "adamw")
    with pytest.raises(ConfigError, match=r"unknown TrainConfig key.*learning_rate"):
        with_overrides(TrainConfig(), {"learning_rate": 1e-3})
    with pytest.raises(ConfigError, match="epochs"):
        with_overrides(TrainConfig(), {"epochs": "3"})
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(schedule="step")
    assert TrainConfig(lr=1, grad_clip=2).hash() == TrainConfig(lr=1.0, grad_clip=2.0).hash()
    assert type(TrainConfig(lr=1).lr) is float and type(TrainConfig(epochs=2).epochs) is int


def test_config_hash_is_stable_and_sensitive() -> None:
    config = TrainConfig()
    text = canonical_json(config)
    assert config.hash() == hashlib.sha256(text.encode()).hexdigest()
    assert json.loads(text)["betas"] == [0.9, 0.999] and text.startswith('{"amp":"off"')
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from fashion_lib.engine import "
        "TrainConfig; print(TrainConfig().hash())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert other.stdout.strip() == config.hash()
    changed = {
        "epochs": 2,
        "max_steps": 5,
        "lr": 2e-4,
        "optimizer": "adamw",
        "betas": (0.8, 0.9),
        "weight_decay": 0.1,
        "schedule": "cosine",
        "gamma": 0.9,
        "warmup_steps": 3,
        "warmup_lr": 1e-6,
        "min_lr": 1e-6,
        "grad_clip": 1.0,
        "amp": "bf16",
        "checkpoint_every": 10,
        "keep_checkpoints": 3,
        "seed": 1,
        "log_every": 5,
        "ddp_find_unused": True,
    }
    assert set(changed) == {f.name for f in dataclasses.fields(TrainConfig)}
    hashes = {config.hash()} | {with_overrides(config, {k: v}).hash() for k, v in changed.items()}
    assert len(hashes) == len(changed) + 1
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_run_record_reused_only_for_the_same_config(tmp_path: Path) -> None:
    experiment = {"model": "m3net", "train": TrainConfig(), "profile": "smoke"}
    run_dir = run_dir_for("m3net-df", experiment, root=tmp_path)
    assert run_dir.name == f"m3net-df-{run_key(experiment)}"
    assert find_finished_run(experiment, root=tmp_path) is None
    write_record(
        run_dir,
        name="m3net-df",
        config=experiment,
        seed=0,
        profile="smoke",
        wall_time_s=1.5,
        metrics={"map": 0.5},
        history=[{"step": 1, "loss": 0.3}],
    )
    found = find_finished_run(experiment, root=tmp_path)
    assert found is not None and found.metrics == {"map": 0.5} and found.config_hash
    assert found.library_version == fashion_lib.__version__ and found.history[0]["loss"] == 0.3
    assert find_finished_run(experiment, name="other", root=tmp_path) is None
    different = {**experiment, "train": TrainConfig(lr=2e-4)}
    assert find_finished_run(different, root=tmp_path) is None
    # A record whose stored config was edited (hash unchanged) is not reused.
    path = run_dir / "record.json"
    data = json.loads(path.read_text())
    data["config"]["model"] = "asen"
    path.write_text(json.dumps(data))
    assert find_finished_run(experiment, root=tmp_path) is None
    # Neither is one from another library version or other code, nor a damaged file.
    data["config"]["model"], data["library_version"] = "m3net", "0.0.0"
    path.write_text(json.dumps(data))
    assert find_finished_run(experiment, root=tmp_path) is None
    data["library_version"], data["code"] = fashion_lib.__version__, "0" * 16
    path.write_text(json.dumps(data))
    assert find_finished_run(experiment, root=tmp_path) is None
    data["code"] = found.code
    path.write_text(json.dumps(data))
    assert find_finished_run(experiment, root=tmp_path) is not None
    path.write_text("{not json")
    assert find_finished_run(experiment, root=tmp_path) is None


def test_weight_decay_skips_biases_and_lr_scales_apply() -> None:
    model = tiny_model()
    config = TrainConfig(lr=1e-3, weight_decay=0.05)
    groups = param_groups(model, config, {"3.": 0.1})
    summary = sorted((g["lr"], g["weight_decay"], len(g["params"])) for g in groups)
    assert summary == sorted([(1e-3, 0.05, 1), (1e-3, 0.0, 1), (1e-4, 0.05, 1), (1e-4, 0.0, 1)])
    with pytest.raises(ConfigError, match="backbone"):
        param_groups(model, config, {"backbone.": 0.1})


def test_single_process_helpers() -> None:
    x = torch.randn(3, 2, requires_grad=True)
    gathered = all_gather(x * 2)
    assert torch.equal(gathered, x.detach() * 2) and not gathered.requires_grad

    @dataclasses.dataclass(frozen=True)
    class Batch:
        images: torch.Tensor
        labels: list[torch.Tensor]

    moved = to_device(Batch(torch.ones(1), [torch.zeros(1)]), torch.device("cpu"))
    assert isinstance(moved, Batch) and torch.equal(moved.labels[0], torch.zeros(1))


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_optimizer_is_fused_on_the_cpu_and_steps_like_the_loop_version(optimizer):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    config = TrainConfig(epochs=1, lr=1e-2, optimizer=optimizer)
    fused = build_optimizer(model, config)
    assert fused.defaults["fused"]
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    loop = type(fused)(param_groups(reference, config, None), lr=1e-2, foreach=False)
    for _ in range(3):
        for net, opt in ((model, fused), (reference, loop)):
            opt.zero_grad()
            net(torch.ones(2, 4)).square().sum().backward()
            opt.step()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
