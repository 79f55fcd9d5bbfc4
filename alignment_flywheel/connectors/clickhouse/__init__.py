"""The ClickHouse sink: events from the Kafka topics into the analytics tables."""
