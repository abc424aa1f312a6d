"""MQTT with paho: one report frame per message, QoS 1, on `<topic>/<device id hex>`.

The monitor subscribes to `<topic>/#` with a fixed client id and a persistent session (clean_session False), so
the broker queues reports while the monitor is away; it acknowledges a message (PUBACK, manual ack) only after
the report is committed to the store, so a crash redelivers instead of losing, and the store drops the repeat.
"""
from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

try:
    import paho.mqtt.client as paho
except ImportError as _missing:  # the field extras are not installed
    raise TinymlError("MQTT needs paho-mqtt: pip install paho-mqtt==2.2.0 (see requirements.txt)", BAD_INPUT) \
        from _missing

DEFAULT_TOPIC = "tinyml/reports"
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    topic: str

    @staticmethod
    def parse(url: str) -> MqttUrl:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise TinymlError(f"{url}: expected mqtt://HOST[:PORT][/TOPIC]", BAD_INPUT)
        try:
            port = parts.port or 1883
        except ValueError as exc:
            raise TinymlError(f"{url}: bad port ({exc})", BAD_INPUT) from exc
        return MqttUrl(parts.hostname, port, parts.path.strip("/") or DEFAULT_TOPIC)

    def device_topic(self, device: str) -> str:
        return f"{self.topic}/{device}"


def client(client_id: str, *, persistent: bool, manual_ack: bool = False) -> paho.Client:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent,
                    protocol=paho.MQTTv311, manual_ack=manual_ack)
    c.reconnect_delay_set(0.1, 2)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)  # no limit: a report waits in memory, never dropped
    return c


def connect(c: paho.Client, url: MqttUrl, what: str) -> None:
    """Starts the network thread and waits (bounded) for the first connection; later drops reconnect alone."""
    connected = queue.Queue()
    previous = c.on_connect

    def on_connect(cl, userdata, flags, reason, properties):
        connected.put(reason)
        if previous is not None:
            previous(cl, userdata, flags, reason, properties)

    c.on_connect = on_connect
    c.connect_async(url.host, url.port, keepalive=30)
    c.loop_start()
    try:
        reason = connected.get(timeout=CONNECT_TIMEOUT_S)
    except queue.Empty:
        c.loop_stop()
        raise TinymlError(f"{what}: no MQTT broker answered at {url.host}:{url.port} within "
                          f"{CONNECT_TIMEOUT_S:g} s", DEVICE_FAILURE) from None
    if reason.is_failure:
        c.loop_stop()
        raise TinymlError(f"{what}: the broker at {url.host}:{url.port} refused the connection ({reason})",
                          DEVICE_FAILURE)


class Subscription:
    """Messages of `<topic>/#` as (mid, payload) in arrival order; `ack(mid)` once stored."""

    def __init__(self, url: MqttUrl, client_id: str) -> None:
        self.url = url
        self._messages: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self._subscribed = queue.Queue()
        self._client = client(client_id, persistent=True, manual_ack=True)
        self._client.on_connect = lambda c, u, f, reason, p: c.subscribe(f"{url.topic}/#", qos=1)
        self._client.on_subscribe = lambda c, u, mid, codes, p: self._subscribed.put(codes)
        self._client.on_message = lambda c, u, msg: self._messages.put((msg.mid, bytes(msg.payload)))
        connect(self._client, url, "monitor")
        try:
            self._subscribed.get(timeout=CONNECT_TIMEOUT_S)
        except queue.Empty:
            self.close()
            raise TinymlError(f"monitor: the broker at {url.host}:{url.port} did not confirm the subscription to "
                              f"{url.topic}/# within {CONNECT_TIMEOUT_S:g} s", DEVICE_FAILURE) from None

    def get(self, deadline: float, most: int = 500) -> list[tuple[int, bytes]]:
        """What has arrived (up to `most`), waiting until `deadline` for the first message."""
        try:
            first = self._messages.get(timeout=max(0.0, min(deadline - time.monotonic(), 0.5)))
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < most:
            try:
                batch.append(self._messages.get_nowait())
            except queue.Empty:
                break
        return batch

    def ack(self, mid: int) -> None:
        self._client.ack(mid, 1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
