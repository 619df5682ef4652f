"""Delivery channels: the interface, the registry and the built-in backends."""

from .base import BaseChannel, Message, TransmitResult
from .registry import ChannelRegistry, ChannelSpec, channels, get_channel

__all__ = [
    "BaseChannel",
    "ChannelRegistry",
    "ChannelSpec",
    "Message",
    "TransmitResult",
    "channels",
    "get_channel",
]
