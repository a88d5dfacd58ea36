"""Fixtures for the AWS tests: one moto_server per session, a counting proxy in front of it, and
``play(...)`` to run a playbook of flaskfleet.cloud AWS tasks with the INSTALLED collection."""

from __future__ import annotations

import uuid

import boto3
import pytest
from awsfake import REGION, AwsProxy, MotoServer, aws_env, playbook, run, task_results


@pytest.fixture(scope="session")
def moto():
    """A running moto_server (URL in ``.url``), stopped at the end of the session."""
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(moto):
    """The counting/faulting proxy in front of moto (``.url``, ``.count()``, ``.reset()``)."""
    front = AwsProxy(moto.url)
    yield front
    front.close()


@pytest.fixture(scope="session")
def env(ansible_env):
    """Environment for ansible-* commands with dummy AWS credentials."""
    return aws_env(ansible_env)


@pytest.fixture(scope="session")
def ec2(moto):
    """A boto3 EC2 client straight to moto, to check what the modules did."""
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=moto.url,
        aws_access_key_id="testing-key-id",
        aws_secret_access_key="testing-secret-key",
    )


@pytest.fixture(scope="session")
def ami(ec2) -> str:
    """An AMI moto knows (moto ships Amazon's public images)."""
    images = ec2.describe_images(Owners=["099720109477"])["Images"]
    return sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"]


@pytest.fixture
def name() -> str:
    """A host name unique to the test, so tests sharing one moto never see each other's hosts."""
    return f"t-aws-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def play(tmp_path, env, moto):
    """``play(tasks, endpoint=..., check=False, diff=False, env=...)`` -> (process, task results)."""

    def _play(tasks, endpoint=None, check=False, diff=False, extra_env=None, module_defaults=None):
        path = playbook(tmp_path / f"play-{uuid.uuid4().hex[:6]}.yml", endpoint or moto.url, tasks, module_defaults)
        args = ["ansible-playbook", "-i", "localhost,", str(path)]
        args += ["--check"] if check else []
        args += ["--diff"] if diff else []
        proc = run(args, env={**env, **(extra_env or {})}, timeout=300)
        try:
            results = task_results(proc.stdout)
        except ValueError as exc:
            raise AssertionError(f"no JSON from ansible-playbook:\n{proc.stdout}\n{proc.stderr}") from exc
        return proc, results

    return _play
