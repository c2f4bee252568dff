# The project's entry point: `ophis project run start`.
cat("Hello from an Ophis R project.\n")
