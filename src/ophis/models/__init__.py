"""Models on the user's machine: convert and quantize weights, the local model cache
(pull, list, remove) and a local OpenAI-shaped API over llama.cpp. See README.md."""
