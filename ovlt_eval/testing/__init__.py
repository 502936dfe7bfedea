"""Test and bench helpers that ship with the package: a tiny offline Qwen2.5-VL
(`tiny_model`) and the one OpenAI-compatible test server (`openai_server`)."""
