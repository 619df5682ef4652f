"""Real-time push: brokers (in-process, Redis pub/sub) and the Server-Sent Events stream.

- :mod:`.brokers`: the :class:`~.brokers.Broker` interface, ``InProcessBroker``,
  ``RedisBroker`` and ``get_broker()`` (``DJANGO_NOTIFY["REALTIME_BROKER"]``).
- :mod:`.publish`: signal receivers that publish ids after commit.
- :mod:`.views`: the ``stream/`` view.
- :mod:`.events`: the message, cursor and SSE formats.

See docs/realtime.md.
"""
