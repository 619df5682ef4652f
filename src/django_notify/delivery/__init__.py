"""Delivery: planning, scheduling, dispatch and digests."""
