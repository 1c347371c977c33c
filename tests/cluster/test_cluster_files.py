"""cluster/: every file parses, has the fields its tool needs, and agrees with the others."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest
import tomllib
import yaml

from srft_ray.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])


def load(name: str) -> list:
    return list(yaml.safe_load_all((CLUSTER / name).read_text()))


@pytest.fixture(scope="module")
def autoscaler() -> dict:
    (config,) = load("autoscaler.yaml")
    return config


@pytest.fixture(scope="module")
def rayjob() -> dict:
    (job,) = [doc for doc in load("kuberay-rayjob.yaml") if doc and doc["kind"] == "RayJob"]
    return job


def worker_group(rayjob: dict, name: str) -> dict:
    (group,) = [
        g for g in rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"] if g["groupName"] == name
    ]
    return group


def ray_container(group: dict) -> dict:
    (container,) = [
        c for c in group["template"]["spec"]["containers"] if c["name"].startswith("ray-")
    ]
    return container


def custom_resources(group: dict) -> dict:
    raw = group["rayStartParams"].get("resources", '"{}"')
    return json.loads(json.loads(raw))  # KubeRay's format: a quoted JSON string


def module_names(text: str) -> list[str]:
    return re.findall(r"python -m (srft_ray[\w.]*)", text)


def test_every_file_parses():
    names = sorted(p.name for p in CLUSTER.glob("*.yaml"))
    assert names == ["autoscaler.yaml", "kuberay-rayjob.yaml", "loop.yaml", "runtime_env.yaml"]
    for name in names:
        assert all(isinstance(doc, dict) for doc in load(name)), name
    for name in ("Dockerfile", "README.md", "local.md"):
        assert (CLUSTER / name).stat().st_size > 500, name


def test_autoscaler_passes_rays_own_validation(autoscaler):
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(autoscaler)))  # what `ray up` runs first
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type"):
        assert autoscaler[key], key
    types = autoscaler["available_node_types"]
    assert autoscaler["head_node_type"] in types
    assert types["head"]["resources"] == {"CPU": 0}  # the driver's node does no work
    assert all("resources" in t and "node_config" in t for t in types.values())
    workers = [t for name, t in types.items() if name != autoscaler["head_node_type"]]
    assert sum(t.get("min_workers", 0) for t in workers) <= autoscaler["max_workers"]
    assert all(t["max_workers"] <= autoscaler["max_workers"] for t in workers)
    assert types["gpu"]["resources"]["GPU"] >= 1
    # a YAML slip (": " inside an unquoted option) turns an option into a mapping
    assert all(isinstance(opt, str) for opt in autoscaler["docker"]["run_options"])
    options = " ".join(autoscaler["docker"]["run_options"])
    assert "/var/run/docker.sock:/var/run/docker.sock" in options  # Docker for the sandboxes


def test_setup_installs_extras_that_exist(autoscaler):
    installs = [c for c in autoscaler["setup_commands"] if "pip install" in c]
    assert installs
    extras = {
        e for c in installs for group in re.findall(r"\[([\w,-]+)\]", c) for e in group.split(",")
    }
    assert extras == {"gpu", "docker"} and extras <= EXTRAS
    mounted = autoscaler["file_mounts"]
    assert any(path in installs[0] for path in mounted)  # installs the synced working copy


def test_rayjob_has_the_fields_kuberay_requires(rayjob):
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    spec = rayjob["spec"]
    assert spec["entrypoint"].startswith("python -m ")
    cluster = spec["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        # KubeRay's rayStartParams is map[string]string: a bare number fails admission
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), group
        containers = group["template"]["spec"]["containers"]
        assert containers and all(c["image"] for c in containers)
        volumes = {v["name"] for v in group["template"]["spec"].get("volumes", [])}
        for container in containers:
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounts <= volumes, f"{container['name']}: mounts {mounts - volumes} undefined"
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"


def test_resource_shapes_agree_between_autoscaler_and_kuberay(autoscaler, rayjob):
    from srft_ray.vllm_engine import EngineConfig

    types = autoscaler["available_node_types"]
    gpu = worker_group(rayjob, "gpu")
    limits = ray_container(gpu)["resources"]["limits"]
    num_gpus = types["gpu"]["resources"]["GPU"]
    assert int(limits["nvidia.com/gpu"]) == num_gpus == int(gpu["rayStartParams"]["num-gpus"])
    assert int(ray_container(gpu)["resources"]["requests"]["nvidia.com/gpu"]) == num_gpus
    assert int(gpu["rayStartParams"]["num-cpus"]) <= int(limits["cpu"])
    assert num_gpus % EngineConfig().tensor_parallel_size == 0  # an engine fits on one node

    sandbox = worker_group(rayjob, "cpu-sandbox")
    cpus = int(sandbox["rayStartParams"]["num-cpus"])
    assert cpus <= int(ray_container(sandbox)["resources"]["limits"]["cpu"])
    assert "nvidia.com/gpu" not in ray_container(sandbox)["resources"]["limits"]
    # one sandbox slot per Ray CPU on both kinds of cluster
    assert custom_resources(sandbox) == {"sandbox": cpus}
    auto = types["cpu_sandbox"]["resources"]
    assert auto["sandbox"] == auto["CPU"] and "GPU" not in auto
    env = {e["name"]: e["value"] for e in ray_container(sandbox)["env"]}
    dind = [c for c in sandbox["template"]["spec"]["containers"] if c["name"] == "dind"]
    assert dind and dind[0]["securityContext"]["privileged"] is True
    assert env["DOCKER_HOST"].rsplit(":", 1)[1] in " ".join(dind[0]["args"])


def test_images_and_ray_versions_agree(autoscaler, rayjob):
    from packaging.requirements import Requirement

    cluster = rayjob["spec"]["rayClusterSpec"]
    images = {
        c["image"]
        for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
        for c in group["template"]["spec"]["containers"]
        if c["name"].startswith("ray-")
    }
    assert images == {autoscaler["docker"]["image"]}
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    ray_image = re.search(r"ARG RAY_IMAGE=rayproject/ray:([\d.]+)-", dockerfile).group(1)
    assert ray_image == cluster["rayVersion"]
    (ray_req,) = [
        Requirement(r) for r in PYPROJECT["project"]["dependencies"] if r.startswith("ray[")
    ]
    assert ray_req.specifier.contains(ray_image)


def test_entrypoints_and_launch_lines_name_known_modules(autoscaler, rayjob):
    known = {module for module, _ in COMMANDS.values()}
    texts = {
        "kuberay entrypoint": rayjob["spec"]["entrypoint"],
        "autoscaler.yaml": (CLUSTER / "autoscaler.yaml").read_text(),
        "runtime_env.yaml": (CLUSTER / "runtime_env.yaml").read_text(),
        "README.md": (CLUSTER / "README.md").read_text(),
        "local.md": (CLUSTER / "local.md").read_text(),
    }
    for where, text in texts.items():
        for module in module_names(text):
            assert module in known, f"{where}: `python -m {module}` is not an srft module"
            if (ROOT / "jobs" / (module.rsplit(".", 1)[1] + ".py")).exists():
                # jobs/ is installed as srft_ray.jobs: a job that exists must import that way
                assert importlib.util.find_spec(module) is not None, module
    readme = texts["README.md"]
    for stage in ("collect", "critique", "train", "evaluate"):
        assert f"srft_ray.jobs.{stage}" in {m for m, _ in COMMANDS.values()}
        assert stage in readme
    # the --config the RayJob passes is the ConfigMap mounted on the head
    config_path = Path(shlex.split(rayjob["spec"]["entrypoint"])[-1])
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mount = {m["name"]: m["mountPath"] for m in head["containers"][0]["volumeMounts"]}[
        "loop-config"
    ]
    (configmap,) = [d for d in load("kuberay-rayjob.yaml") if d["kind"] == "ConfigMap"]
    assert str(config_path.parent) == mount and config_path.name in configmap["data"]
    assert isinstance(yaml.safe_load(configmap["data"][config_path.name]) or {}, dict)


def test_runtime_env_is_valid_and_matches_the_rayjob(rayjob):
    from ray.runtime_env import RuntimeEnv

    (env,) = load("runtime_env.yaml")
    RuntimeEnv(**env)  # Ray's own validation of field names and types
    assert "working_dir" not in env and "py_modules" not in env  # see runtime_env.yaml
    assert yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"]) == env


def test_dockerfile_installs_what_the_cluster_needs():
    text = (CLUSTER / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", text)
    extras = {
        e for line in installs for g in re.findall(r"\[([\w,-]+)\]", line) for e in g.split(",")
    }
    assert extras == {"gpu", "docker"} and extras <= EXTRAS
    assert any("vllm" in dep for dep in PYPROJECT["project"]["optional-dependencies"]["gpu"])
    assert any(dep.startswith("swebench") for dep in PYPROJECT["project"]["dependencies"])
    assert "import vllm, swebench, docker, srft_ray.jobs, srft_ray.actors" in text
    assert re.search(r"COPY --from=docker-cli /usr/local/bin/docker ", text)  # docker client
    # every folder the package is made of (srft_ray/actors, srft_ray/jobs link to top-level
    # folders) is copied into the build
    sources = re.findall(r"^COPY (?:--chown=\S+ )?(.+) /tmp/srft-ray-src/", text, flags=re.M)
    copied = {s for line in sources for s in line.split()}
    links = [p for p in (ROOT / "srft_ray").iterdir() if p.is_symlink()]
    mapped = {p.resolve().relative_to(ROOT).parts[0] for p in links} | {"srft_ray"}
    assert mapped == {"srft_ray", "actors", "jobs"}
    assert mapped <= copied and "pyproject.toml" in copied
    # pip builds the metadata from pyproject.toml, which names the readme: the image needs it
    assert PYPROJECT["project"]["readme"] in copied
    missing = sorted(source for source in copied if not (ROOT / source).exists())
    assert not missing, f"the Dockerfile copies {missing}, which do not exist"


def test_loop_config_loads_and_fits_the_cluster(autoscaler, rayjob):
    from srft_ray.jobs.loop import parse_config

    config = parse_config(["--config", str(CLUSTER / "loop.yaml")])  # the loop's own validation
    (configmap,) = [d for d in load("kuberay-rayjob.yaml") if d["kind"] == "ConfigMap"]
    assert configmap["data"]["loop.yaml"] == (CLUSTER / "loop.yaml").read_text()
    # the RayJob's entrypoint arguments parse the same way
    args = shlex.split(rayjob["spec"]["entrypoint"])[3:]
    assert parse_config([a.replace("/etc/srft/", f"{CLUSTER}/") for a in args]) == config

    types = autoscaler["available_node_types"]
    gpus_per_node = types["gpu"]["resources"]["GPU"]
    total_gpus = gpus_per_node * types["gpu"]["max_workers"]
    policy_engine = config.collect.episode.policy.engine
    engine_gpus = config.collect.episode.policy.resources.num_gpus
    critics = config.critique_pool.resources
    # an engine with tensor parallelism n asks Ray for n GPUs, all on one node
    assert policy_engine.tensor_parallel_size == engine_gpus <= gpus_per_node
    assert config.critic.engine.tensor_parallel_size == critics.num_gpus <= gpus_per_node
    overlap = engine_gpus + critics.num_workers * critics.num_gpus
    assert overlap <= total_gpus  # collect and critique run at the same time
    trainers = config.train.resources
    assert trainers.num_gpus == 1 and trainers.num_workers <= total_gpus
    sandbox_cpus = types["cpu_sandbox"]["resources"]["CPU"] * types["cpu_sandbox"]["max_workers"]
    assert config.collect.num_workers * config.collect.worker_num_cpus <= sandbox_cpus

    for episode in (config.collect.episode, config.evaluate.episode):
        assert episode.sandbox.backend == "docker"
    assert config.ray.address == "auto"
    # everything the run reads or writes sits on the volume every node mounts
    shared = "/mnt/shared/"
    assert "-v /mnt/shared:/mnt/shared" in autoscaler["docker"]["run_options"]
    cluster = rayjob["spec"]["rayClusterSpec"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        mounts = [m["mountPath"] for m in ray_container(group)["volumeMounts"]]
        assert shared.rstrip("/") in mounts
    for path in (config.run_dir, config.tasks.source, config.train.model_path):
        assert path.startswith(shared), path
    assert config.critic.engine.model.startswith(shared)
