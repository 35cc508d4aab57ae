"""The ingest use case: a message from a sender to the durable queue of its receiver (see pipeline.py)."""
