"""Test and bench helpers that ship with the package: a tiny offline Qwen2.5-VL and a faulty server."""
