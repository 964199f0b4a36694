"""The broker connection of the Home Assistant bridge: the client, its TLS, and `forget`.

aiomqtt is imported here only when a connection is made, so loading the service's
config never pays for it.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from massager.service.discovery import Topics
from massager.service.mqtt_config import MqttConfig

if TYPE_CHECKING:
    import aiomqtt

__all__ = ["KEEPALIVE_S", "broker_client", "forget_device"]

KEEPALIVE_S = 15
"""The MQTT keepalive (s): the broker publishes the `offline` will this long after a silence."""


def _tls(config: MqttConfig) -> aiomqtt.TLSParameters | None:
    """TLS settings for the broker connection, or None without TLS."""
    import aiomqtt

    if not config.tls:
        return None
    return aiomqtt.TLSParameters(ca_certs=config.tls_ca or None, cert_reqs=ssl.CERT_REQUIRED)


def broker_client(config: MqttConfig, topics: Topics, *, will: bool = True) -> aiomqtt.Client:
    """An aiomqtt client for the configured broker (MQTT 5), with the `offline` will."""
    import aiomqtt

    return aiomqtt.Client(
        config.host,
        config.port,
        identifier=f"massager-{config.node_id}",
        username=config.username or None,
        password=(config.password or None) if config.username else None,
        tls_params=_tls(config),
        protocol=aiomqtt.ProtocolVersion.V5,
        keepalive=KEEPALIVE_S,
        will=aiomqtt.Will(topics.availability, "offline", qos=1, retain=True) if will else None,
        timeout=5,
    )


async def forget_device(config: MqttConfig) -> None:
    """Remove the device from Home Assistant: empty retained config, state and availability.

    Raises DeviceError (exit code 3) when the broker cannot be reached.
    """
    import aiomqtt

    from massager.errors import DeviceError

    topics = Topics(config.discovery_prefix, config.node_id)
    try:
        async with broker_client(config, topics, will=False) as mq:
            for topic in (topics.config, topics.state, topics.availability):
                await mq.publish(topic, b"", qos=1, retain=True)
    except aiomqtt.MqttError as exc:
        raise DeviceError(
            f"mqtt: cannot reach the broker at {config.host}:{config.port}: {exc}"
        ) from None
