"""
Multi-GPU training with torchrun
================================

This script is shown, not run, when the documentation is built (it needs GPUs). Run it
on one node with four GPUs as::

    torchrun --nproc_per_node=4 examples/torchrun_ddp.py lamost.h5 --label subtype

``torchrun`` starts one process per GPU and sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``. :class:`~spectromer.SpectromerModel` notices them: each process trains
on the GPU of its ``LOCAL_RANK`` (NCCL between GPUs, gloo on CPUs), on its own shard of
every epoch's batches, with gradients averaged by PyTorch's
``DistributedDataParallel``; validation metrics are gathered across processes, and only
rank 0 writes checkpoints, prints and saves. The batch size is per process, so four
GPUs with ``batch_size=64`` step with 256 spectra.

The command line does the same without a script::

    torchrun --nproc_per_node=4 -m spectromer train lamost.h5 --label subtype \\
        --backbone vit_base_patch16_224 --pretrained vit_base.safetensors \\
        --epochs 30 --batch-size 64 --num-workers 6 --out models/subtype

On a cluster, put either line in the batch script (for example under ``srun`` with one
task per node and ``--nnodes``/``--rdzv-endpoint`` for several nodes).
"""

import argparse
import os

from spectromer import SpectromerModel
from spectromer.datasets import SpectraDataset


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a SpectromerModel under torchrun.")
    parser.add_argument("dataset", help="a SpectraDataset .h5 file")
    parser.add_argument("--label", default="subtype")
    parser.add_argument("--weights", default=None, help="local ImageNet weights file")
    parser.add_argument("--out", default="models/ddp")
    args = parser.parse_args()

    ds = SpectraDataset(args.dataset)
    split = ds.split(args.label, (0.8, 0.2), seed=0)  # the same split in every process
    model = SpectromerModel(
        backbone="vit_base_patch16_224",
        pretrained=args.weights or False,
        image_size=224,
        epochs=30,
        batch_size=64,  # per process
        num_workers=6,  # rendering processes per GPU
        precision="auto",  # bf16 on Ampere and later GPUs
        early_stopping=8,
        checkpoint_dir=os.path.join(args.out, "checkpoints"),  # resume after preemption
        random_state=0,
    )
    model.fit(ds, args.label, indices=split["train"], resume=True)
    if int(os.environ.get("RANK", "0")) == 0:  # one process writes
        model.save(args.out)
        score = model.score(ds, args.label, indices=split["test"])
        print(f"test accuracy: {score:.4f}; saved to {args.out}")


if __name__ == "__main__":
    main()
