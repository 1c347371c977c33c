"""Run train_loop under torchrun: `torchrun --nproc_per_node 2 torchrun_worker.py cfg.json out.json`."""

import json
import sys

from srft_ray.config import from_dict
from srft_ray.train.config import TrainConfig
from srft_ray.train.train_loop import train_loop

if __name__ == "__main__":
    config = from_dict(TrainConfig, json.loads(open(sys.argv[1]).read()))
    result = train_loop(config)
    import os

    if os.environ.get("RANK", "0") == "0":
        with open(sys.argv[2], "w") as fh:
            json.dump({"losses": result.losses, "data": result.data}, fh)
