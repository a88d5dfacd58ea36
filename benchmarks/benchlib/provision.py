"""Measurement 5, provisioning against the cloud fakes: wall time and API calls for N hosts.

EC2: moto_server runs on 127.0.0.1 behind a small counting HTTP proxy (every request's
``Action`` is recorded), so the count is what the code under test really sends. ``ec2_host`` is
the collection's module in a one-task playbook (our ansible.cfg); the floor is boto3 doing the
least possible (one RunInstances for N, then the running waiter). Between timings every
instance is terminated directly on moto (untimed, not counted).

GCP and Azure: ``gce_host`` against the fake Compute Engine API and ``azure_vm`` against the
fake ARM endpoint, the fakes of tests/integration/gcp and tests/integration/azure (imported from
there, they stay in tests/), which record every request they answer. Whatever the module sends
is counted (ARM: every ARM request, token requests reported apart). Between timings the hosts
are removed with the same module and ``state: absent`` (untimed, not counted).
"""

from __future__ import annotations

import collections
import importlib
import importlib.util
import json
import sys

from benchlib import ansible
from benchlib.env import BENCH, ROOT, VENV_BIN, WORK, BenchError, Proc, base_env, run
from benchlib.timing import Method

KEY = "provision"
TITLE = "Provisioning N hosts against moto_server (EC2), the GCE fake and the ARM fake"
FLOOR = "boto3 floor"
NEEDS_FLEET = False
XLABEL = "instances (N)"
NOTE = (
    "Extra figures: api_calls = requests the provider saw (EC2: the counting proxy in front of moto; "
    "gce_host: the GCE fake; azure_vm: the ARM fake, token requests apart). The floor is EC2's."
)
REGION = "us-east-1"


def _load_awsfake():
    """The AWS tests' moto helpers (a plain module beside their conftest, not a package)."""
    spec = importlib.util.spec_from_file_location("awsfake", ROOT / "tests" / "integration" / "aws" / "awsfake.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


awsfake = _load_awsfake()


def _load_fake(area: str, name: str):
    """A helper module of ``tests/integration/<area>`` (its siblings import each other by plain name)."""
    directory = str(ROOT / "tests" / "integration" / area)
    if directory not in sys.path:
        sys.path.append(directory)
    return importlib.import_module(name)


class Moto:
    """moto_server plus the counting proxy in front of it: the same pieces the AWS tests use
    (``tests/integration/aws/awsfake.py``), so the benchmark counts calls exactly as they do."""

    def __init__(self) -> None:
        try:
            self.server = awsfake.MotoServer()
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
        self.url = self.server.url
        self.proxy = awsfake.AwsProxy(self.url)
        self.proxy_url = self.proxy.url

    def take(self) -> collections.Counter:
        """The actions recorded since the last call."""
        return collections.Counter(self.proxy.take_actions())

    def stop(self) -> None:
        self.proxy.close()
        self.server.stop()


def _aws_env() -> dict[str, str]:
    """Dummy credentials; nothing may reach real AWS or the metadata service."""
    env = {k: v for k, v in base_env().items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="bench-key-id",
        AWS_SECRET_ACCESS_KEY="bench-secret-key",  # noqa: S106 - dummy, moto only
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
    )
    return env


def _client(url: str):
    import boto3

    return boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106 - moto


def setup(ctx) -> None:
    """Start moto and the proxy, the GCE fake and the ARM fake; pick an AMI moto knows; install the collection."""
    ansible.install_collection()
    gcefake = _load_fake("gcp", "gcefake")
    azureplay = _load_fake("azure", "azureplay")
    ctx.gce = gcefake.GceFake()
    ctx.gce_env = gcefake.gcp_env(base_env())
    ctx.gce_zone = gcefake.ZONE
    (WORK / "armfake").mkdir(parents=True, exist_ok=True)
    ctx.arm = _load_fake("azure", "armfake").ArmFake(WORK / "armfake")
    ctx.arm.cores_limit = 10_000  # the fake's regional quota would refuse 100 VMs of the 1-core default size
    ctx.arm_env = azureplay.azure_env(base_env(), ctx.arm)
    ctx.vm_task = azureplay.vm_task
    ctx.moto = Moto()
    images = _client(ctx.moto.url).describe_images(Owners=["099720109477"])["Images"]
    if not images:
        raise BenchError("moto offers no AMI to launch")
    ctx.ami = sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"]


def teardown(ctx) -> None:
    """Stop moto and the fakes."""
    if getattr(ctx, "moto", None):
        ctx.moto.stop()
        ctx.moto = None
    for fake in ("gce", "arm"):
        if getattr(ctx, fake, None):
            getattr(ctx, fake).close()
            setattr(ctx, fake, None)


def sizes(ctx) -> list[int]:
    """Host counts (--provision-counts)."""
    return ctx.args.provision_counts


def _live(ctx, name: str) -> list[str]:
    """Instance ids tagged with ``name`` that are not terminated (straight to moto: not counted)."""
    pages = (
        _client(ctx.moto.url)
        .get_paginator("describe_instances")
        .paginate(
            Filters=[
                {"Name": "tag:flaskfleet.name", "Values": [name]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
    )
    return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]


def methods(ctx, n: int) -> list[Method]:
    """ec2_host through Ansible, and the boto3 floor, for n instances."""
    counter = iter(range(1, 10_000))
    state: dict = {}
    play = WORK / "provision-play.yml"

    def prepare() -> None:
        state["name"] = f"bench-ec2-{n}-{next(counter)}"
        ctx.moto.take()

    def check(_proc) -> dict:
        calls = ctx.moto.take()
        live = _live(ctx, state["name"])
        if len(live) != n:
            raise BenchError(f"{len(live)} instances running in moto, {n} wanted")
        return {"api_calls": sum(calls.values()), "actions": dict(sorted(calls.items()))}

    def cleanup() -> None:
        live = _live(ctx, state["name"])
        if live:
            _client(ctx.moto.url).terminate_instances(InstanceIds=live)
        ctx.moto.take()

    def module() -> Proc:
        task = {
            "name": "Exactly N instances",
            "flaskfleet.cloud.ec2_host": {
                "name": state["name"],
                "group": "web",
                "app": "bench",
                "count": n,
                "image_id": ctx.ami,
                "instance_type": "t3.micro",
                "endpoint_url": ctx.moto.proxy_url,
                "region": REGION,
                "wait": True,
            },
        }
        doc = [{"name": "Provision", "hosts": "localhost", "connection": "local", "gather_facts": False,
                "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": [task]}]  # fmt: skip
        play.write_text(json.dumps(doc))
        env = ansible.env(True, extra=_aws_env())
        return run([VENV_BIN / "ansible-playbook", "-i", "localhost,", play], env={**_aws_env(), **env}, timeout=900)

    def floor() -> Proc:
        argv = [VENV_BIN / "python", BENCH / "drivers" / "boto3_floor.py", "--endpoint", ctx.moto.proxy_url,
                "--ami", ctx.ami, "--count", str(n), "--name", state["name"]]  # fmt: skip
        return run(argv, env=_aws_env(), timeout=900)

    return [
        Method(FLOOR, floor, check=check, prepare=prepare, cleanup=cleanup, floor=True),
        Method("ec2_host", module, check=check, prepare=prepare, cleanup=cleanup),
        _gce_method(ctx, n, counter),
        _azure_method(ctx, n, counter),
    ]


def _playbook(path, task: dict, env: dict) -> Proc:
    """Run one module task on localhost with our ansible.cfg and the provider's environment."""
    doc = [{"name": "Provision", "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, "tasks": [task]}]  # fmt: skip
    path.write_text(json.dumps(doc))
    return run([VENV_BIN / "ansible-playbook", "-i", "localhost,", path], env={**env, **ansible.env(True, extra=env)},
               timeout=1800)  # fmt: skip


def _gce_method(ctx, n: int, counter) -> Method:
    """gce_host for n instances against the GCE fake; calls = requests the fake answered."""
    state: dict = {}
    play = WORK / "provision-gce.yml"

    def task(count: int, present: bool = True) -> dict:
        args = {"name": state["name"], "group": "web", "app": "bench", "count": count, "zone": ctx.gce_zone,
                "api_endpoint": ctx.gce.url, "state": "present" if present else "absent"}  # fmt: skip
        return {"name": "Exactly N instances", "flaskfleet.cloud.gce_host": args}

    def prepare() -> None:
        state["name"] = f"bench-gce-{n}-{next(counter)}"
        ctx.gce.reset()

    def check(_proc) -> dict:
        calls = collections.Counter(ctx.gce.methods())
        live = ctx.gce.instances(state["name"])
        if len(live) != n:
            raise BenchError(f"{len(live)} instances in the GCE fake, {n} wanted")
        return {"api_calls": sum(calls.values()), "actions": dict(sorted(calls.items()))}

    def cleanup() -> None:
        if ctx.gce.instances(state["name"]):
            _playbook(play, task(0, present=False), ctx.gce_env)
            if ctx.gce.instances(state["name"]):
                raise BenchError(f"gce_host state=absent left instances of {state['name']}")
        ctx.gce.reset()

    return Method("gce_host", lambda: _playbook(play, task(n), ctx.gce_env), check=check, prepare=prepare,
                  cleanup=cleanup)  # fmt: skip


def _azure_method(ctx, n: int, counter) -> Method:
    """azure_vm for n VMs against the ARM fake; calls = ARM requests the fake answered."""
    state: dict = {}
    play = WORK / "provision-azure.yml"

    def task(count: int, present: bool = True) -> dict:
        if not present:
            return ctx.vm_task(state["name"], app="bench", state="absent")
        return ctx.vm_task(state["name"], app="bench", count=count)

    def prepare() -> None:
        state["name"] = f"bench-az-{n}-{next(counter)}"
        ctx.arm.reset()

    def check(_proc) -> dict:
        calls = collections.Counter(" ".join(c.split()[:2]) for c in ctx.arm.calls)
        live = ctx.arm.vms(state["name"])
        if len(live) != n:
            raise BenchError(f"{len(live)} VMs in the ARM fake, {n} wanted")
        return {"api_calls": len(ctx.arm.calls), "token_requests": ctx.arm.token_requests,
                "actions": dict(sorted(calls.items()))}  # fmt: skip

    def cleanup() -> None:
        if ctx.arm.vms(state["name"]):
            _playbook(play, task(0, present=False), ctx.arm_env)
            if ctx.arm.vms(state["name"]):
                raise BenchError(f"azure_vm state=absent left VMs of {state['name']}")
        ctx.arm.reset()

    return Method("azure_vm", lambda: _playbook(play, task(n), ctx.arm_env), check=check, prepare=prepare,
                  cleanup=cleanup)  # fmt: skip
