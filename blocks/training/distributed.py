"""Training on many processes: ``torchrun --nproc_per_node N`` and DistributedDataParallel, one run in N parts.

``torchrun`` starts N copies of the program and tells each, in its environment, its
``RANK`` (0 … N-1), ``LOCAL_RANK`` (its GPU on this machine), ``WORLD_SIZE`` (N) and
where rank 0 listens (``MASTER_ADDR``, ``MASTER_PORT``). :func:`blocks.train` reads
them (:func:`join_processes`) and makes the N processes take the steps that ONE
process would take on the same global batches:

* the same start: ``DistributedDataParallel`` (DDP) copies rank 0's weights and
  BN statistics to every process when it wraps the network;
* each global batch of B images cut into N shards of B/N, one per process: a
  ``DistributedSampler`` deals process r the positions r, r+N, r+2N, … of one
  seeded permutation per epoch, so the N shards of a step are exactly the B images
  a single process would take from the same permutation;
* one gradient: during backward DDP averages every gradient over the processes
  (an all-reduce); the shards are equal, so the mean of their mean losses is the
  mean over the global batch, and every process makes the same SGD step;
* one set of batch statistics: BatchNorm is the one layer whose output depends on
  the other images of the batch. :func:`global_batch_norms` makes every BN in train
  mode normalise with the mean and variance of the GLOBAL batch, by summing the
  per-channel sums over the processes (``nn.SyncBatchNorm`` does the same, but
  runs on GPUs only). Without it each process would normalise by its own shard,
  a different (if common) model, as in the paper's training: 32 images per GPU.

Collectives run over gloo on a CPU and nccl on CUDA GPUs. Outside ``torchrun``
nothing of this is used: one process, its loaders as given.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Subset


@dataclass(frozen=True)
class Processes:
    """The processes that train together, seen from one of them.

    Attributes:
        rank: this process, 0 … ``world_size`` - 1; rank 0 writes and prints.
        world_size: how many processes train together (1: a plain run).
        device: where this process trains (its own GPU under ``torchrun`` on CUDA).
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that shows progress and writes files."""
        return self.rank == 0

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the processes (itself, in a plain run)."""
        if self.world_size == 1:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64, device=self.device)  # nccl reduces GPU tensors only
        dist.all_reduce(total)
        return total.tolist()


def join_processes(device: torch.device) -> Processes:
    """This process's place among those that ``torchrun`` started; joins their group once.

    Args:
        device: where the network lies; under ``torchrun`` on CUDA each process takes
            the GPU ``LOCAL_RANK`` instead.

    Returns:
        Rank, number of processes and device. Without ``torchrun`` (no ``WORLD_SIZE``
        in the environment, or 1) and without a group made by the caller: rank 0 of 1.
    """
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        return Processes(0, 1, device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return Processes(dist.get_rank(), dist.get_world_size(), device)


def distribute(
    net: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None, processes: Processes, seed: int
) -> tuple[nn.Module, DataLoader, DataLoader | None]:
    """The network wrapped in DDP and the loaders cut into this process's shards (all unchanged for one process).

    Args:
        net: the network, moved to ``processes.device``.
        train_loader: yields GLOBAL batches of ``batch_size`` images; each process gets
            ``batch_size / world_size`` of them per step, dealt by a ``DistributedSampler``
            seeded with ``seed`` (reshuffled per epoch if ``train_loader`` shuffles). A loader
            whose sampler already is a ``DistributedSampler`` is kept as it is.
        val_loader: each process measures every ``world_size``-th image, all images once.
        processes: from :func:`join_processes`.
        seed: seeds the per-epoch permutation of the training images.

    Returns:
        ``(model to call, training loader, validation loader)``.

    Raises:
        ValueError: a training batch size that ``world_size`` does not divide, or none.
    """
    if processes.world_size == 1:
        return net, train_loader, val_loader
    net.to(processes.device)
    model = DistributedDataParallel(
        net, device_ids=[processes.device.index] if processes.device.type == "cuda" else None
    )
    if not isinstance(train_loader.sampler, DistributedSampler):
        batch = train_loader.batch_size
        if batch is None or batch % processes.world_size:
            raise ValueError(
                f"the training loader's batch_size must be a multiple of the {processes.world_size} processes"
                f" (each takes an equal share of every global batch), got {batch!r}"
            )
        # It pads the images with repeats to a multiple of world_size, so that every shard has as many.
        sampler: DistributedSampler[object] = DistributedSampler(
            train_loader.dataset,
            processes.world_size,
            processes.rank,
            shuffle=isinstance(train_loader.sampler, RandomSampler),
            seed=seed,
        )
        train_loader = _reloaded(train_loader, train_loader.dataset, batch // processes.world_size, sampler)
    if val_loader is not None:
        images = len(val_loader.dataset)  # type: ignore[arg-type]  # (our data sets have a length)
        mine = Subset(val_loader.dataset, range(processes.rank, images, processes.world_size))
        val_loader = _reloaded(val_loader, mine, val_loader.batch_size, None)
    return model, train_loader, val_loader


def _reloaded(loader: DataLoader, dataset: object, batch_size: int | None, sampler: object) -> DataLoader:
    """A loader like ``loader`` (workers, collation, pinning) over ``dataset`` with another batch size and sampler."""
    return DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size,
        sampler=sampler,  # type: ignore[arg-type]
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
    )


def start_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a ``DistributedSampler`` the epoch, so that every epoch has its own permutation (others need nothing)."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)


# ---------------------------------------------------------------- BatchNorm over the global batch


class _SumOverProcesses(torch.autograd.Function):
    """The sum of a tensor over all processes, in every process; differentiable.

    Each process's tensor feeds the sum that every process uses, so the gradient
    that reaches it is the sum of the gradients of all processes: backward is the
    same all-reduce.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor) -> Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def _global_batch_norm(bn: _BatchNorm, x: Tensor) -> Tensor:
    """``bn(x)``, in train mode with the mean and (biased) variance of the global batch over all processes.

    The running statistics are updated as ``F.batch_norm`` does, from the global
    statistics (the variance unbiased by the global count), so they stay equal in
    every process. In eval mode the running statistics are used: nothing to share.
    """
    if not bn.training:
        return type(bn).forward(bn, x)
    channels, dims = x.shape[1], [0, *range(2, x.dim())]
    shape = (1, channels) + (1,) * (x.dim() - 2)  # broadcast a (channels,) vector over (B, channels, H, W)
    local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() / channels)])  # (channels + 1,): sums, then count
    summed = _SumOverProcesses.apply(local)
    count = summed[-1]
    mean = summed[:-1] / count  # (channels,)
    centred = x - mean.view(shape)
    variance = _SumOverProcesses.apply(centred.square().sum(dims)) / count  # two passes: no cancellation
    out = centred * torch.rsqrt(variance + bn.eps).view(shape)
    if bn.weight is not None and bn.bias is not None:
        out = out * bn.weight.view(shape) + bn.bias.view(shape)
    if bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None:
        assert bn.num_batches_tracked is not None  # tracked statistics come with their counter
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            bn.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
            bn.running_var.mul_(1 - factor).add_(variance * count / (count - 1), alpha=factor)
    return out


@contextmanager
def global_batch_norms(net: nn.Module, processes: Processes) -> Iterator[None]:
    """Inside, every BatchNorm of ``net`` in train mode uses the global batch's statistics (see the module docstring).

    The BN modules stay what they are (the forms, :func:`blocks.transplant` and
    checkpoints see plain ``BatchNorm2d``); only their ``forward`` is replaced for
    the duration, and restored after. Nothing changes for one process.
    """
    norms = [m for m in net.modules() if isinstance(m, _BatchNorm)] if processes.world_size > 1 else []
    for bn in norms:
        bn.forward = functools.partial(_global_batch_norm, bn)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for bn in norms:
            del bn.forward
