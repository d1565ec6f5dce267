"""Paging channels: one module per channel, each registered as a `floodwatch.notifiers` plugin."""
