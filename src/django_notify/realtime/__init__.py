"""Real-time push: brokers (in-process, Redis pub/sub) and the Server-Sent Events stream.

- :mod:`.brokers`: the :class:`~.brokers.Broker` interface, ``InProcessBroker``,
  ``RedisBroker`` and ``get_broker()`` (``DJANGO_NOTIFY["REALTIME_BROKER"]``).
- :mod:`.receivers`: signal receivers that push ids to the broker after commit.
- :mod:`.views`: the ``stream/`` view.
- :mod:`.framing`: the broker message, the stream's cursor and the SSE text.
- :mod:`.checks`: the system checks of the broker, stream and API settings.

See docs/realtime.md.
"""
