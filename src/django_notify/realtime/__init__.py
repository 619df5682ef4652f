"""Real-time push: brokers (in-process, Redis pub/sub) and the Server-Sent Events stream."""
