"""Step-masked fine-tuning: config, data/packing, chunked loss, FSDP2 loop, checkpoints, export.

Modules other than data.py's store reading and trainer.py import only torch + transformers, so
the training core runs on a GPU box without Ray, vLLM or pyarrow (benchmarks/gpu_train_bench.py).
"""
