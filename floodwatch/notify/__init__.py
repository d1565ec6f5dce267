"""Reaching people: the Notifier contract, the outbox and its dispatcher, message templates."""

from __future__ import annotations
