"""Small builders shared by the control-plane tests."""

from __future__ import annotations

import asyncio
from typing import Any

from splitline.v1 import config_pb2, control_pb2


def experiment(
    key: str, layer: str = "checkout", weights: tuple[int, ...] = (5000, 5000), traffic_bp: int = 2000, **fields: Any
) -> config_pb2.Experiment:
    exp = config_pb2.Experiment(key=key, layer_id=layer, unit_type="user_id", traffic_bp=traffic_bp, **fields)
    for i, w in enumerate(weights):
        exp.variants.add(key="control" if i == 0 else f"treatment{i}", weight=w)
    return exp


async def setup_layer(stubs: Any, md: Any, layer: str = "checkout") -> None:
    await stubs.layers.CreateLayer(control_pb2.CreateLayerRequest(layer=config_pb2.Layer(id=layer)), metadata=md)


async def next_message(stream: Any, timeout: float = 10.0) -> control_pb2.WatchConfigResponse:
    message: control_pb2.WatchConfigResponse = await asyncio.wait_for(stream.read(), timeout)
    return message
