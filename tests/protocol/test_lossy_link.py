"""A proxy that drops and corrupts bytes between DeviceLink and the device: the results are still right (and no
INVOKE is counted twice), or the run fails with a clear device error; a damaged result is never accepted."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from proto_support import IN0_BYTES, IN1_BYTES, DropFrames, LinkProxy, RandomDamage, Transform, expected_outputs

from tinyml.device.protocol import ACK_BIT, CMD_INVOKE, DeviceLink, connect
from tinyml.errors import TinymlError

MakeProxy = Callable[[Transform, Transform], LinkProxy]


def unchanged(data: bytes) -> bytes:
    return data


@pytest.fixture
def make_proxy(start_device: Callable[[], str]) -> Iterator[MakeProxy]:
    """Proxies, each in front of a fresh device."""
    proxies: list[LinkProxy] = []

    def make(to_device: Transform, to_host: Transform) -> LinkProxy:
        proxies.append(LinkProxy(start_device(), to_device, to_host))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


def session(link: DeviceLink, invokes: int) -> tuple[bytes, bytes]:
    """Load random inputs, invoke, read the outputs back and check them; returns (inputs, outputs)."""
    in0, in1 = os.urandom(IN0_BYTES), os.urandom(IN1_BYTES)
    link.load_input(0, in0)
    link.load_input(1, in1)
    assert link.invoke(invokes).count == invokes
    assert (link.read_output(0), link.read_output(1)) == expected_outputs(in0, in1)
    return in0, in1


@pytest.mark.parametrize("seed", range(3))
def test_results_survive_a_lossy_link(make_proxy: MakeProxy, seed: int) -> None:
    # About one byte in 1000 damaged each way: one 268-byte LOAD_INPUT frame in four is hit.
    to_device = RandomDamage(seed, drop=0.0005, corrupt=0.0005)
    to_host = RandomDamage(seed + 100, drop=0.0005, corrupt=0.0005)
    proxy = make_proxy(to_device, to_host)
    with connect(proxy.url, timeout_s=0.25, retries=8, boot_timeout_s=5.0, invoke_timeout_s=0.5) as link:
        for _ in range(3):
            session(link, invokes=2)
        stats = link.stats()
    assert stats.invokes_total == 6, "an INVOKE was run twice or lost"
    assert to_device.damaged + to_host.damaged > 0, "the proxy damaged nothing: this test proves nothing"


def test_a_lost_invoke_reply_does_not_run_the_model_twice(make_proxy: MakeProxy) -> None:
    drop = DropFrames(CMD_INVOKE | ACK_BIT)
    proxy = make_proxy(unchanged, drop)
    with connect(proxy.url, timeout_s=0.25, retries=2, boot_timeout_s=5.0, invoke_timeout_s=0.5) as link:
        session(link, invokes=5)
        stats = link.stats()
    assert drop.left == 0
    assert (stats.invokes_total, stats.last_invoke.count) == (5, 5)


def flip_every_tenth_byte(data: bytes) -> bytes:
    return bytes(b ^ 0x01 if i % 10 == 0 else b for i, b in enumerate(data))


def test_a_link_that_damages_every_reply_fails_clearly(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(unchanged, flip_every_tenth_byte)  # every frame (12 bytes or more) is hit
    with DeviceLink(proxy.url, timeout_s=0.2, retries=3) as link:
        with pytest.raises(TinymlError, match="did not answer INFO after 4 attempt") as err:
            link.info()
    assert err.value.exit_code == 4


def test_a_run_on_a_lossy_link_is_right_or_fails_clearly(make_proxy: MakeProxy) -> None:
    """Heavy damage and few retries: some runs fail, but every run that succeeds has the right results."""
    outcomes = []
    for seed in range(6):
        proxy = make_proxy(RandomDamage(seed, 0.001, 0.001), RandomDamage(seed + 50, 0.001, 0.001))
        try:
            with DeviceLink(proxy.url, timeout_s=0.1, retries=2, invoke_timeout_s=0.2) as link:
                session(link, invokes=1)  # asserts the outputs
            outcomes.append("ok")
        except TinymlError as exc:
            assert exc.exit_code == 4 and "did not answer" in exc.message
            outcomes.append("failed")
    assert {"ok", "failed"} <= set(outcomes), f"the damage should let some runs through and stop others: {outcomes}"
