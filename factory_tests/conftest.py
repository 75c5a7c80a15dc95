"""Shared fixtures: the hotel spec and its real data, loaded once per session; a real S3
API (moto_server) on a free port of 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory.core.base.dataset import load_dataset
from factory.core.base.environment import environment
from factory.core.base.spec import load_spec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def hotel_spec():
    return load_spec(REPO / "specs" / "hotel.yaml")


@pytest.fixture(scope="session")
def hotel_data(hotel_spec):
    """The whole hotel dataset, normalised. Shared: copy before changing it."""
    return load_dataset(hotel_spec)


class Planted:
    """A pickle whoever can write to the storage root could plant: unpickling it writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


BUCKET = "factory-test"
MOTO = Path(sys.executable).parent / "moto_server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, seconds: float = 20) -> None:
    """Until something listens on 127.0.0.1:port; fails when `proc` dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{what} did not start on port {port}") from None
            time.sleep(0.1)


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API on a free port with the bucket BUCKET; the standard AWS variables point at it."""
    port = free_port()
    proc = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    aws = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=endpoint)
    try:
        with environment(**aws, AWS_DEFAULT_REGION=None, AWS_REGION=None):
            wait_for_port(port, proc, "moto_server")
            import s3fs

            s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, use_listings_cache=False).mkdir(BUCKET)
            yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
