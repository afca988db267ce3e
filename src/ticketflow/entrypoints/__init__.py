"""Entry points: the command line, the HTTP API and the Kafka workers."""
