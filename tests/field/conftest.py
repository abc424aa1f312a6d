"""Fixtures for the field tests: a real mosquitto and a real PostgreSQL on loopback, one of each per test session
(started by tinyml.field.servers, stopped afterwards), a fresh PostgreSQL database per test, and reports of
simulated devices."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tinyml.device.statistics import StatsLayout, layout_for
from tinyml.field.servers import Mosquitto, Postgres
from tinyml.field.simulate import fleet_reports


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> Iterator[str]:
    """A fresh database per test on the session's server."""
    import psycopg

    name = f"t{np.random.default_rng().integers(1 << 40):x}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres.url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


LAYOUT = layout_for(10, [4])


def make_reports(devices: int, per_device: int, *, layout: StatsLayout = LAYOUT, window: int = 8, seed: int = 0):
    return fleet_reports(devices, per_device, layout, window=window, seed=seed)
