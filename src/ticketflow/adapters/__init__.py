"""Adapters to the outside: Kafka clients and the CloudEvents codec for Kafka records."""
