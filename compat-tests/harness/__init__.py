"""Shared test harness: the broker process, the expected data, raw wire helpers."""
