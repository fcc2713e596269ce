"""Use cases that wire the stages and return values (no printing): the command line, the report
and the scripts call these (docs/architecture.md)."""
