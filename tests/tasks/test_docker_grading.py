"""Grading in the docker backend (podman's Docker API on CI), the checkout copied into the image.

Runs where .ci/podman-setup.sh exported DOCKER_HOST and SRFT_DOCKER_IMAGE (tests/run.sh does);
skips elsewhere and says why.
"""

import os

import pytest

from srft_ray.tasks.validate import validate_task

IMAGE = os.environ.get("SRFT_DOCKER_IMAGE", "")
pytestmark = pytest.mark.skipif(
    not (os.environ.get("DOCKER_HOST") and IMAGE),
    reason="DOCKER_HOST / SRFT_DOCKER_IMAGE not set (run .ci/podman-setup.sh)",
)


def test_pack_task_validates_in_docker(pack, tasks_by_id):
    from srft_ray.sandbox import SandboxConfig

    config = SandboxConfig(backend="docker", image=IMAGE)
    result = validate_task(tasks_by_id["srft-embedded__inicfg-3"], pack, sandbox_config=config)
    assert result.valid, result.problems
    assert (result.num_base_f2p_failing, result.num_gold_f2p_passing) == (8, 8)
